import QtQuick
import QtQuick.Layouts

// The guide an answer comes from: title, 所需材料 as a checklist, place, hours, phones.
Rectangle {
    id: card
    property var guide: null
    color: theme.panel
    radius: 16 * win.u
    border.width: 3
    border.color: theme.line
    implicitHeight: col.implicitHeight + 3 * win.pad

    ColumnLayout {
        id: col
        anchors.left: parent.left
        anchors.right: parent.right
        anchors.top: parent.top
        anchors.margins: 1.5 * win.pad
        spacing: win.pad

        KText {
            objectName: "cardTitle"
            Layout.fillWidth: true
            font.pixelSize: win.fsLarge
            font.bold: true
            color: theme.primary
            text: card.guide ? "《" + card.guide.title + "》" : ""
        }
        KText {
            Layout.fillWidth: true
            visible: !!card.guide && card.guide.materials.length > 0
            font.bold: true
            text: qsTr("所需材料（带齐的可以点一下打勾）")
        }
        Repeater {
            objectName: "materials"
            model: card.guide ? card.guide.materials : []
            Rectangle {
                id: item
                objectName: "material_" + index
                property bool checked: false
                Layout.fillWidth: true
                implicitHeight: Math.max(win.target, itemText.implicitHeight + win.pad)
                color: "transparent"
                RowLayout {
                    anchors.fill: parent
                    spacing: win.pad
                    Rectangle {
                        Layout.preferredWidth: win.fs * 1.3
                        Layout.preferredHeight: win.fs * 1.3
                        border.width: 4
                        border.color: theme.check
                        color: theme.bg
                        radius: 6
                        Text {
                            anchors.centerIn: parent
                            text: item.checked ? "✓" : ""
                            color: theme.check
                            font.pixelSize: win.fs
                            font.bold: true
                        }
                    }
                    KText {
                        id: itemText
                        Layout.fillWidth: true
                        text: modelData
                    }
                }
                MouseArea { anchors.fill: parent; onClicked: item.checked = !item.checked }
            }
        }
        KText {
            objectName: "cardPlace"
            Layout.fillWidth: true
            visible: !!(card.guide && card.guide.place)
            text: qsTr("地点：") + (card.guide && card.guide.place ? card.guide.place : "")
        }
        KText {
            objectName: "cardHours"
            Layout.fillWidth: true
            visible: !!(card.guide && card.guide.hours)
            text: qsTr("时间：") + (card.guide && card.guide.hours ? card.guide.hours : "")
        }
        Repeater {
            model: card.guide ? card.guide.phones : []
            KText {
                Layout.fillWidth: true
                text: qsTr("电话：") + (modelData.label ? modelData.label + " " : "") + modelData.number
            }
        }
    }
}
