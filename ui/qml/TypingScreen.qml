import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Type a question: the on-screen keyboard with pinyin, or the system input method.
Rectangle {
    color: theme.bg
    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 1.5 * win.pad
        spacing: win.pad
        KText {
            Layout.fillWidth: true
            font.pixelSize: win.fsLarge
            font.bold: true
            text: qsTr("请输入您的问题（拼音输入，可打首字母，如 sbk = 社保卡）")
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: win.pad
            TextField {
                id: field
                objectName: "questionField"
                Layout.fillWidth: true
                Layout.preferredHeight: win.target * 1.2
                font.pixelSize: win.fsLarge
                color: theme.fg
                placeholderText: qsTr("在这里输入")
                placeholderTextColor: theme.muted
                background: Rectangle { color: theme.bg; border.width: 4; border.color: theme.primary; radius: 10 }
                onAccepted: send.clicked()
            }
            KButton {
                id: send
                objectName: "sendButton"
                Layout.preferredHeight: win.target * 1.2
                text: qsTr("提问")
                onClicked: {
                    var text = field.text + (kiosk.keyboard.state.composing || "")
                    kiosk.keyboard.clear()
                    field.text = ""
                    kiosk.ask(text)
                }
            }
        }
        Keyboard {
            Layout.fillWidth: true
            Layout.fillHeight: false
            field: field
        }
        Item { Layout.fillHeight: true }
    }
}
