import QtQuick
import QtQuick.Layouts

// Handed to staff: what happens next, the duty phone, where and when.
Rectangle {
    color: theme.bg
    Flickable {
        id: handoffFlick
        anchors.fill: parent
        anchors.margins: 2 * win.pad
        contentHeight: col.implicitHeight
        clip: true
        ScrollMark { id: mark; flick: handoffFlick }
        ColumnLayout {
            id: col
            width: handoffFlick.width - mark.width - win.pad / 2
            spacing: 1.5 * win.pad
            KText {
                Layout.fillWidth: true
                font.pixelSize: win.fsTitle
                font.bold: true
                color: theme.primary
                text: qsTr("请工作人员来帮您")
            }
            KText {
                objectName: "handoffAnswer"
                Layout.fillWidth: true
                font.pixelSize: win.fsLarge
                text: kiosk.turn.answer
            }
            Rectangle {
                Layout.fillWidth: true
                color: theme.panel
                radius: 16 * win.u
                implicitHeight: steps.implicitHeight + 3 * win.pad
                ColumnLayout {
                    id: steps
                    anchors.fill: parent
                    anchors.margins: 1.5 * win.pad
                    spacing: win.pad
                    KText { Layout.fillWidth: true; font.bold: true; text: qsTr("接下来：") }
                    KText { Layout.fillWidth: true; text: qsTr("1. 您的问题已经记录，工作人员会看到。") }
                    KText { Layout.fillWidth: true; text: qsTr("2. 请到服务台找工作人员：%1").arg(kiosk.site.address) }
                    KText { Layout.fillWidth: true; text: qsTr("3. 也可以打社区值班电话：") }
                    KText {
                        objectName: "dutyPhone"
                        Layout.fillWidth: true
                        font.pixelSize: win.fsTitle * 1.2
                        font.bold: true
                        color: theme.primary
                        text: kiosk.site.dutyPhone
                    }
                    KText { Layout.fillWidth: true; color: theme.muted; text: qsTr("办公时间：%1").arg(kiosk.site.hours) }
                }
            }
            KButton {
                objectName: "backToConversation"
                text: qsTr("返回继续提问")
                onClicked: kiosk.go("conversation")
            }
        }
    }
}
