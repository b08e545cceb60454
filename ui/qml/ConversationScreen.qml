import QtQuick
import QtQuick.Layouts

// What the resident said (caption), the answer as it streams, its source card, follow-ups.
Rectangle {
    id: screen
    color: theme.bg
    readonly property var turn: kiosk.turn
    readonly property bool hasTurn: turn.question !== ""

    function modeNote(mode) {
        if (mode === "no_answer") return qsTr("没有找到可靠的答案")
        if (mode === "handoff") return qsTr("已转给工作人员")
        return ""
    }

    // Before the first question: what to do.
    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 2 * win.pad
        visible: !screen.hasTurn
        spacing: 2 * win.pad
        KText {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            font.pixelSize: win.fsTitle
            font.bold: true
            text: kiosk.status.voice ? qsTr("请说出您要办的事") : qsTr("请点选或输入您要办的事")
        }
        KText {
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            color: theme.muted
            text: qsTr("比如：“社保卡丢了怎么办”“老年卡在哪里办”")
        }
        GridLayout {
            Layout.fillWidth: true
            columns: win.portrait ? 2 : 3
            columnSpacing: win.pad
            rowSpacing: win.pad
            Repeater {
                model: kiosk.topics.slice(0, 6)
                KButton {
                    objectName: "convTopic_" + index
                    Layout.fillWidth: true
                    text: modelData.title
                    fill: theme.panel; ink: theme.primary; outlined: true
                    onClicked: kiosk.ask(modelData.question)
                }
            }
        }
        Item { Layout.fillHeight: true }
    }

    GridLayout {
        anchors.fill: parent
        anchors.margins: 1.5 * win.pad
        visible: screen.hasTurn
        columns: win.portrait ? 1 : 2
        columnSpacing: 1.5 * win.pad
        rowSpacing: win.pad

        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.preferredWidth: 3
            Layout.preferredHeight: win.portrait ? screen.height * 0.5 : -1
            spacing: win.pad
            KText {
                objectName: "caption"
                Layout.fillWidth: true
                color: theme.muted
                text: qsTr("您问：") + kiosk.caption
            }
            KText {
                objectName: "modeNote"
                Layout.fillWidth: true
                visible: text !== ""
                color: theme.primary
                font.bold: true
                text: screen.modeNote(screen.turn.mode)
            }
            Flickable {
                id: answerFlick
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentHeight: answerCol.implicitHeight
                clip: true
                ColumnLayout {
                    id: answerCol
                    width: answerFlick.width - scrollMark.width
                    spacing: win.pad
                    KText {
                        objectName: "answer"
                        Layout.fillWidth: true
                        font.pixelSize: win.fsLarge
                        text: screen.turn.answer !== "" ? screen.turn.answer : (screen.turn.done ? "" : qsTr("正在查找……"))
                    }
                    KText {
                        Layout.fillWidth: true
                        visible: screen.turn.interrupted
                        color: theme.muted
                        text: qsTr("（已停止朗读）")
                    }
                }
                Rectangle {
                    // Where the reader is in a long answer (drag the text to scroll).
                    id: scrollMark
                    visible: answerFlick.contentHeight > answerFlick.height
                    x: answerFlick.width - width
                    y: answerFlick.contentY + answerFlick.visibleArea.yPosition * answerFlick.height
                    width: 10 * win.u
                    height: answerFlick.visibleArea.heightRatio * answerFlick.height
                    radius: width / 2
                    color: theme.line
                }
            }
            RowLayout {
                Layout.fillWidth: true
                visible: screen.turn.done && screen.turn.followUps.length > 0
                spacing: win.pad / 2
                KText {
                    font.bold: true
                    text: screen.turn.mode === "no_answer" ? qsTr("您是不是想问：") : qsTr("还想了解：")
                }
                Flow {
                    Layout.fillWidth: true
                    spacing: win.pad / 2
                    Repeater {
                        model: screen.turn.followUps
                        KButton {
                            objectName: "followUp_" + index
                            text: modelData
                            fill: theme.panel; ink: theme.primary; outlined: true
                            onClicked: kiosk.ask(modelData)
                        }
                    }
                }
            }
        }
        Flickable {
            id: cardFlick
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.preferredWidth: 2
            Layout.preferredHeight: win.portrait ? screen.height * 0.45 : -1
            visible: screen.turn.card !== null && screen.turn.card !== undefined
            contentHeight: sourceCard.implicitHeight
            clip: true
            SourceCard {
                id: sourceCard
                objectName: "sourceCard"
                width: cardFlick.width
                guide: screen.turn.card
            }
        }
    }
}
