import QtQuick
import QtQuick.Layouts

// The resident's controls on every resident screen: talk, stop speaking, topics, typing, staff.
Rectangle {
    id: bar
    color: theme.panel
    // At most two lines of whole words, shrunk to fit at the larger text sizes (labels broke
    // mid-word, "Servic / es"); one line on the typing screen, whose five rows of keys need the
    // height (a long English label is elided there at the largest text size).
    readonly property int lines: kiosk.screen === "typing" ? 1 : 2
    implicitHeight: grid.implicitHeight + win.pad * 2

    component BarButton: KButton {
        Layout.fillWidth: true
        Layout.fillHeight: true
        maxLines: bar.lines
    }

    GridLayout {
        id: grid
        anchors.fill: parent
        anchors.margins: win.pad
        columns: win.portrait ? 3 : 6
        rowSpacing: win.pad / 2
        columnSpacing: win.pad / 2

        BarButton {
            objectName: "talkButton"
            visible: kiosk.status.voice
            text: qsTr("点我说话")
            fill: theme.talk; ink: theme.onTalk
            onClicked: kiosk.talk()
        }
        BarButton {
            objectName: "stopButton"
            visible: kiosk.status.voice
            text: qsTr("停止朗读")
            fill: theme.bg; ink: theme.fg; outlined: true
            onClicked: kiosk.stopSpeaking()
        }
        BarButton {
            objectName: "topicsButton"
            text: qsTr("常见服务")
            onClicked: kiosk.go("topics")
        }
        BarButton {
            objectName: "typingButton"
            text: qsTr("打字提问")
            onClicked: kiosk.go("typing")
        }
        BarButton {
            objectName: "homeButton"
            text: qsTr("结束")
            fill: theme.bg; ink: theme.fg; outlined: true
            onClicked: kiosk.home()
        }
        BarButton {
            objectName: "findStaffButton"
            text: qsTr("找工作人员")
            fill: theme.staffButton; ink: theme.onStaffButton
            onClicked: kiosk.findStaff()
        }
    }
}
