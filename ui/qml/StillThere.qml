import QtQuick

// "Still there?" — asked before the screen goes back to attract, so nobody loses what they read.
Rectangle {
    color: "#CC000000"
    MouseArea { anchors.fill: parent; onClicked: kiosk.touched() }
    Rectangle {
        anchors.centerIn: parent
        width: Math.min(parent.width - 4 * win.pad, 1100 * win.u)
        height: col.implicitHeight + 4 * win.pad
        radius: 20 * win.u
        color: theme.bg
        Column {
            id: col
            anchors.centerIn: parent
            width: parent.width - 4 * win.pad
            spacing: 2 * win.pad
            KText {
                width: parent.width
                horizontalAlignment: Text.AlignHCenter
                font.pixelSize: win.fsTitle
                font.bold: true
                text: qsTr("您还在看吗？")
            }
            KText {
                width: parent.width
                horizontalAlignment: Text.AlignHCenter
                text: qsTr("如果没有操作，屏幕稍后会回到首页。")
            }
            KButton {
                objectName: "keepReading"
                anchors.horizontalCenter: parent.horizontalCenter
                text: qsTr("我还在看")
                onClicked: kiosk.touched()
            }
        }
    }
}
