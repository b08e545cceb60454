import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// The kiosk window: status strip, the current screen, the resident's action bar.
ApplicationWindow {
    id: win
    visible: true
    width: viewConfig.width
    height: viewConfig.height
    visibility: viewConfig.fullscreen ? Window.FullScreen : Window.Windowed
    flags: viewConfig.fullscreen ? (Qt.Window | Qt.FramelessWindowHint) : Qt.Window
    color: theme.bg
    title: qsTr("社区服务助手")

    // Sizes for a 1080-pixel short side, scaled with the window and the resident's text size.
    readonly property real u: Math.max(0.75, Math.min(width, height) / 1080)
    readonly property bool portrait: height > width
    readonly property bool narrow: width < 1300
    readonly property bool short: height < 1000  // e.g. a 1280x800 panel: less room around the content
    readonly property int fs: Math.round(theme.bodyPx * u * kiosk.textScale)
    readonly property int fsSmall: Math.round(32 * u * Math.min(kiosk.textScale, 1.2))
    readonly property int fsLarge: Math.round(fs * 1.3)
    readonly property int fsTitle: Math.round(fs * 1.7)
    readonly property int target: Math.max(theme.minTarget, Math.round(104 * u))
    readonly property int pad: Math.round(24 * u)
    readonly property var residentScreens: ["conversation", "topics", "typing", "handoff"]

    // The CJK font's Simplified Chinese quotes “ ” are full-width; in mostly English text
    // (English answers, tours and notices, which may quote a Chinese name) OpenType 'pwid' makes
    // them proportional. Chinese text keeps its full-width punctuation.
    function fontFeatures(s) {
        const cjk = ((s || "").match(/[\u3400-\u9fff]/g) || []).length
        const latin = ((s || "").match(/[A-Za-z]/g) || []).length
        return latin > 2 * cjk ? ({ "pwid": 1 }) : ({})
    }

    readonly property var screenFiles: ({
        "attract": "AttractScreen.qml",
        "conversation": "ConversationScreen.qml",
        "topics": "TopicsScreen.qml",
        "typing": "TypingScreen.qml",
        "handoff": "HandoffScreen.qml",
        "emergency": "EmergencyScreen.qml",
        "pin": "PinScreen.qml",
        "staff": "StaffScreen.qml",
        "tour": "TourScreen.qml"
    })

    ColumnLayout {
        anchors.fill: parent
        spacing: 0

        StatusStrip {
            Layout.fillWidth: true
            visible: kiosk.screen !== "emergency"
        }
        Rectangle {
            objectName: "voiceNotice"
            Layout.fillWidth: true
            visible: !kiosk.status.voice && (kiosk.screen === "attract" || kiosk.screen === "conversation")
            color: theme.notice
            implicitHeight: noticeText.implicitHeight + win.pad
            KText {
                id: noticeText
                anchors.centerIn: parent
                width: parent.width - 2 * win.pad
                horizontalAlignment: Text.AlignHCenter
                color: theme.onNotice
                font.pixelSize: win.fsSmall
                text: qsTr("语音暂不可用：请点屏幕或打字提问，内容都会显示在屏幕上。")
            }
        }
        Rectangle {
            // The knowledge base holds no guides (a site's, emptied): say so instead of seeming to know.
            objectName: "noGuidesNotice"
            Layout.fillWidth: true
            visible: kiosk.status.kb === "empty" && (kiosk.screen === "attract" || kiosk.screen === "conversation")
            color: theme.notice
            implicitHeight: noGuidesText.implicitHeight + win.pad
            KText {
                id: noGuidesText
                objectName: "noGuidesText"
                anchors.centerIn: parent
                width: parent.width - 2 * win.pad
                horizontalAlignment: Text.AlignHCenter
                color: theme.onNotice
                font.pixelSize: win.fsSmall
                text: qsTr("本机还没有办事指南，暂时答不了办事问题。遇到紧急情况请直接告诉我；需要帮忙请找工作人员。")
            }
        }
        Loader {
            id: screenLoader
            objectName: "screenLoader"
            Layout.fillWidth: true
            Layout.fillHeight: true
            source: win.screenFiles[kiosk.screen]
        }
        ActionBar {
            Layout.fillWidth: true
            visible: win.residentScreens.indexOf(kiosk.screen) >= 0
        }
    }

    StillThere {
        anchors.fill: parent
        visible: kiosk.stillThere
    }
}
