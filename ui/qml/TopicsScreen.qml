import QtQuick
import QtQuick.Layouts

// A grid of the commonest services: tap to ask.
Rectangle {
    color: theme.bg
    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 1.5 * win.pad
        spacing: win.pad
        KText {
            Layout.fillWidth: true
            font.pixelSize: win.fsTitle
            font.bold: true
            text: qsTr("常见服务：点一下就能看办理方法")
        }
        Flickable {
            id: topicsFlick
            Layout.fillWidth: true
            Layout.fillHeight: true
            contentHeight: grid.implicitHeight
            clip: true
            ScrollMark { id: mark; flick: topicsFlick }
            GridLayout {
                id: grid
                width: topicsFlick.width - mark.width - win.pad / 2
                columns: win.portrait ? 2 : 4
                columnSpacing: win.pad
                rowSpacing: win.pad
                Repeater {
                    model: kiosk.topics
                    KButton {
                        objectName: "topic_" + index
                        Layout.fillWidth: true
                        Layout.preferredHeight: Math.max(win.target * 1.5, implicitHeight)
                        text: modelData.title
                        fill: theme.panel; ink: theme.primary; outlined: true
                        onClicked: kiosk.ask(modelData.question)
                    }
                }
            }
        }
    }
}
