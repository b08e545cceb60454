import QtQuick
import QtQuick.Layouts

// Listening / thinking / speaking, network, knowledge-base version (or "no guides"), "示例" while
// the fictional demo's guides are in use, robot link; language and text size. A long press on the
// community's name opens staff mode.
Rectangle {
    id: strip
    color: theme.strip
    implicitHeight: Math.max(win.target, 100 * win.u)
    readonly property bool demo: kiosk.status.kb === "demo" || kiosk.status.kb === "mixed"

    function activityText(a) {
        if (a === "listening") return qsTr("正在听")
        if (a === "thinking") return qsTr("正在想")
        if (a === "speaking") return qsTr("正在说")
        return qsTr("请点屏幕提问")
    }
    function robotText(r) {
        if (r === "ok") return qsTr("机器人：正常")
        if (r === "degraded") return qsTr("机器人：未连接")
        if (r === "estop") return qsTr("机器人：急停")
        return ""
    }

    RowLayout {
        anchors.fill: parent
        anchors.leftMargin: win.pad
        anchors.rightMargin: win.pad
        spacing: win.pad

        Text {
            id: siteName
            objectName: "siteName"
            Layout.fillWidth: true
            Layout.fillHeight: true
            // never squeezed away: a long press here is how staff get in
            Layout.minimumWidth: Math.min(implicitWidth, 4 * win.fsSmall)
            verticalAlignment: Text.AlignVCenter
            text: kiosk.site.name
            color: theme.onStrip
            font.pixelSize: win.fsSmall
            font.bold: true
            elide: Text.ElideRight
            MouseArea {
                anchors.fill: parent
                pressAndHoldInterval: 2500
                onPressAndHold: kiosk.staff.open()
            }
        }
        Row {
            spacing: win.pad / 2
            Rectangle {
                width: win.fsSmall * 0.7; height: width; radius: width / 2
                anchors.verticalCenter: parent.verticalCenter
                color: kiosk.status.activity === "idle" ? theme.onStrip : theme.stripOk
            }
            Text {
                objectName: "activity"
                text: strip.activityText(kiosk.status.activity)
                color: theme.onStrip
                font.pixelSize: win.fsSmall
            }
        }
        Text {
            objectName: "network"
            visible: kiosk.status.online !== undefined && kiosk.status.online !== null
            text: kiosk.status.online ? qsTr("在线") : qsTr("离线")
            color: kiosk.status.online ? theme.stripOk : theme.stripWarn
            font.pixelSize: win.fsSmall
        }
        Text {
            objectName: "alertStrip"
            visible: kiosk.status.alertUndelivered === true
            text: qsTr("紧急通知未送达")
            color: theme.stripWarn
            font.pixelSize: win.fsSmall
            font.bold: true
        }
        Rectangle {
            objectName: "kbDemo"
            visible: strip.demo
            color: "transparent"
            border.color: theme.stripWarn
            border.width: Math.max(2, 3 * win.u)
            radius: 8 * win.u
            implicitWidth: demoText.implicitWidth + win.pad
            implicitHeight: demoText.implicitHeight + win.pad / 3
            Text {
                id: demoText
                objectName: "kbDemoText"
                anchors.centerIn: parent
                text: qsTr("示例")
                color: theme.stripWarn
                font.pixelSize: win.fsSmall
                font.bold: true
            }
        }
        Text {
            objectName: "kbVersion"
            visible: !(strip.demo && win.narrow)  // a narrow strip has room for the badge only
            text: kiosk.status.kb === "empty" ? qsTr("无办事指南") : qsTr("知识库 v%1").arg(kiosk.status.kbVersion)
            color: kiosk.status.kb === "empty" ? theme.stripWarn : theme.onStrip
            font.pixelSize: win.fsSmall
            font.bold: kiosk.status.kb === "empty"
        }
        Text {
            objectName: "robot"
            visible: text !== "" && !win.narrow
            text: strip.robotText(kiosk.status.robot)
            color: kiosk.status.robot === "ok" ? theme.stripOk : theme.stripWarn
            font.pixelSize: win.fsSmall
        }
        KButton {
            objectName: "textSize"
            text: qsTr("字号")
            fill: theme.strip; ink: theme.onStrip; outlined: true
            fontSize: win.fsSmall
            Layout.preferredHeight: win.target
            onClicked: kiosk.cycleTextScale()
        }
        KButton {
            objectName: "language"
            text: kiosk.lang === "en" ? "中文" : "English"
            fill: theme.strip; ink: theme.onStrip; outlined: true
            fontSize: win.fsSmall
            Layout.preferredHeight: win.target
            onClicked: kiosk.setLang(kiosk.lang === "en" ? "zh" : "en")
        }
    }
}
