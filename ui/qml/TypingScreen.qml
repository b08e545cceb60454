import QtQuick
import QtQuick.Controls
import QtQuick.Layouts

// Type a question: the on-screen keyboard with pinyin, or the system input method.
// Five rows of keys at least a touch target high must fit above the action bar: on a short
// landscape screen (1280x800) the hint line goes (the field's placeholder says what to do) and the
// margins shrink, or the bottom rows ran under the action bar.
Rectangle {
    color: theme.bg
    ColumnLayout {
        anchors.fill: parent
        anchors.margins: win.short ? win.pad / 2 : win.pad
        spacing: win.short ? win.pad / 2 : win.pad
        KText {
            visible: !win.short
            maximumLineCount: 1  // one line at any text size: it shrinks, then elides
            fontSizeMode: Text.HorizontalFit
            minimumPixelSize: win.fsSmall
            elide: Text.ElideRight
            Layout.fillWidth: true
            font.pixelSize: win.fs
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
                Layout.preferredHeight: win.target
                font.pixelSize: win.fsLarge
                color: theme.fg
                placeholderText: win.short ? qsTr("在这里输入（拼音，可打首字母）") : qsTr("在这里输入")
                placeholderTextColor: theme.muted
                background: Rectangle { color: theme.bg; border.width: 4; border.color: theme.primary; radius: 10 }
                onAccepted: send.clicked()
            }
            KButton {
                id: send
                objectName: "sendButton"
                Layout.preferredHeight: win.target
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
