import QtQuick
import QtQuick.Layouts

// Greeting, "tap or speak", rotating community notices, a few common services.
Rectangle {
    id: screen
    color: theme.bg
    property int noticeIndex: 0

    Timer {
        interval: 8000; running: kiosk.notices.length > 1; repeat: true
        onTriggered: screen.noticeIndex = (screen.noticeIndex + 1) % kiosk.notices.length
    }
    MouseArea { anchors.fill: parent; onClicked: kiosk.go("conversation") }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 2 * win.pad
        spacing: 2 * win.pad

        KText {
            objectName: "greeting"
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            font.pixelSize: win.fsTitle
            font.bold: true
            text: qsTr("您好！我是%1").arg(kiosk.site.assistant)
        }
        KText {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            color: theme.muted
            // With no guides (an emptied site) it cannot promise answers: the notice above says why.
            objectName: "aiNotice"
            text: kiosk.status.kb === "empty" ? qsTr("我是人工智能（AI），不是真人。")
                                              : qsTr("我是人工智能（AI），不是真人。办事的问题可以问我。")
        }
        KButton {
            objectName: "startButton"
            Layout.alignment: Qt.AlignHCenter
            Layout.preferredWidth: Math.min(screen.width - 4 * win.pad, 1000 * win.u)
            Layout.preferredHeight: win.target * 1.6
            fontSize: win.fsLarge
            text: kiosk.status.voice ? qsTr("点这里开始，或直接说话") : qsTr("点这里开始")
            onClicked: kiosk.go("conversation")
        }
        Rectangle {
            objectName: "notice"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.minimumHeight: win.target * 2
            visible: kiosk.notices.length > 0
            color: theme.panel
            radius: 16 * win.u
            property var notice: kiosk.notices.length > 0 ? kiosk.notices[screen.noticeIndex % kiosk.notices.length] : null
            ColumnLayout {
                anchors.fill: parent
                anchors.margins: 1.5 * win.pad
                spacing: win.pad
                KText {
                    color: theme.primary
                    font.bold: true
                    text: qsTr("社区通知") + (kiosk.notices.length > 1 ? "  " + (screen.noticeIndex % kiosk.notices.length + 1) + "/" + kiosk.notices.length : "")
                }
                KText {
                    objectName: "noticeTitle"
                    Layout.fillWidth: true
                    font.pixelSize: win.fsLarge
                    font.bold: true
                    text: parent.parent.notice ? parent.parent.notice.title : ""
                }
                KText {
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    elide: Text.ElideRight
                    text: parent.parent.notice ? parent.parent.notice.summary : ""
                }
                KText {
                    Layout.fillWidth: true
                    color: theme.muted
                    visible: text !== ""
                    text: {
                        var n = parent.parent.notice
                        if (!n) return ""
                        var parts = []
                        if (n.when) parts.push(qsTr("时间：") + n.when)
                        if (n.where) parts.push(qsTr("地点：") + n.where)
                        return parts.join("    ")
                    }
                }
            }
        }
        GridLayout {
            Layout.fillWidth: true
            columns: win.portrait ? 2 : 4
            columnSpacing: win.pad
            rowSpacing: win.pad
            Repeater {
                model: kiosk.topics.slice(0, win.portrait ? 4 : 4)
                KButton {
                    objectName: "attractTopic_" + index
                    Layout.fillWidth: true
                    text: modelData.title
                    fill: theme.panel; ink: theme.primary; outlined: true
                    onClicked: kiosk.ask(modelData.question)
                }
            }
        }
    }
}
