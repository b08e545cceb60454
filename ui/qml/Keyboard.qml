import QtQuick
import QtQuick.Layouts

// An on-screen keyboard with pinyin composition (kiosk.keyboard) and big keys.
ColumnLayout {
    id: kb
    property var field: null
    readonly property var kstate: kiosk.keyboard.state
    readonly property var rows: ["qwertyuiop", "asdfghjkl", "zxcvbnm"]
    // From the width the keyboard is given (its parent's), not its own: its own width follows the
    // rows' (10 keys), so a keyboard first laid out wide stayed wide after a turn to portrait.
    readonly property real keyW: Math.min(((parent ? parent.width : width) - 9 * spacing) / 10, 150 * win.u)
    spacing: win.pad / 3

    function insert(text) {
        if (!field) return
        field.insert(field.cursorPosition, text)
    }
    Connections {
        target: kiosk.keyboard
        function onCommit(text) { kb.insert(text) }
    }

    // Composition and candidates.
    Rectangle {
        Layout.fillWidth: true
        implicitHeight: win.target
        color: theme.panel
        radius: 10
        RowLayout {
            anchors.fill: parent
            anchors.leftMargin: win.pad / 2
            spacing: win.pad / 2
            KText {
                objectName: "composing"
                text: kb.kstate.segmented
                color: theme.primary
                font.bold: true
            }
            Flickable {
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentWidth: cands.implicitWidth
                clip: true
                Row {
                    id: cands
                    height: parent.height
                    spacing: win.pad / 3
                    Repeater {
                        model: kb.kstate.candidates
                        KButton {
                            objectName: "candidate_" + index
                            height: parent.height
                            text: modelData
                            fill: theme.bg; ink: theme.fg; outlined: true
                            onClicked: kiosk.keyboard.choose(index)
                        }
                    }
                }
            }
        }
    }
    Repeater {
        model: kb.rows
        Row {
            Layout.alignment: Qt.AlignHCenter
            spacing: kb.spacing
            Repeater {
                model: modelData.split("")
                KButton {
                    objectName: "key_" + modelData
                    width: kb.keyW
                    implicitWidth: kb.keyW
                    height: win.target
                    text: modelData
                    fill: theme.bg; ink: theme.fg; outlined: true
                    onClicked: kiosk.keyboard.key(modelData)
                }
            }
        }
    }
    Row {
        Layout.alignment: Qt.AlignHCenter
        spacing: kb.spacing
        KButton {
            objectName: "key_backspace"
            width: kb.keyW * 2; implicitWidth: width; height: win.target
            text: qsTr("删除")
            fill: theme.bg; ink: theme.fg; outlined: true
            onClicked: {
                if (!kiosk.keyboard.backspace() && kb.field && kb.field.cursorPosition > 0)
                    kb.field.remove(kb.field.cursorPosition - 1, kb.field.cursorPosition)
            }
        }
        KButton {
            objectName: "key_space"
            width: kb.keyW * 4; implicitWidth: width; height: win.target
            text: qsTr("空格")
            fill: theme.bg; ink: theme.fg; outlined: true
            onClicked: kiosk.keyboard.space()
        }
        KButton {
            objectName: "key_question"
            width: kb.keyW; implicitWidth: width; height: win.target
            text: "？"
            fill: theme.bg; ink: theme.fg; outlined: true
            onClicked: kiosk.keyboard.key("？")
        }
    }
}
