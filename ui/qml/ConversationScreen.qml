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
        if (mode === "clarify") return qsTr("请确认您要问的事")
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

    // Landscape: the answer beside its source card, each scrolling by itself. Portrait: one
    // column (caption, answer, follow-ups, card) that scrolls as a whole, so neither the answer
    // nor the checklist is squeezed into half a narrow screen.
    Flickable {
        id: page
        objectName: "conversationPage"
        anchors.fill: parent
        anchors.margins: 1.5 * win.pad
        visible: screen.hasTurn
        interactive: win.portrait
        contentHeight: win.portrait ? grid.implicitHeight : height
        clip: true
        readonly property string question: screen.turn.question
        onQuestionChanged: { contentY = 0; answerFlick.contentY = 0; cardFlick.contentY = 0 }

        GridLayout {
            id: grid
            width: page.width - (win.portrait ? pageMark.width + win.pad / 2 : 0)
            height: win.portrait ? implicitHeight : page.height
            columns: win.portrait ? 1 : 2
            columnSpacing: 1.5 * win.pad
            rowSpacing: 1.5 * win.pad

            ColumnLayout {
                Layout.fillWidth: true
                Layout.fillHeight: !win.portrait
                Layout.preferredWidth: 3
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
                    Layout.fillHeight: !win.portrait
                    Layout.preferredHeight: win.portrait ? answerCol.implicitHeight : -1
                    interactive: !win.portrait
                    contentHeight: answerCol.implicitHeight
                    clip: true
                    ColumnLayout {
                        id: answerCol
                        width: answerFlick.width - (win.portrait ? 0 : answerMark.width + win.pad / 2)
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
                    ScrollMark { id: answerMark; flick: answerFlick }
                }
                Flow {
                    // The label flows with the questions: beside them in a column of their own
                    // they wrapped one per line at the larger text sizes, leaving the answer one line.
                    Layout.fillWidth: true
                    visible: screen.turn.done && screen.turn.followUps.length > 0
                    spacing: win.pad / 2
                    KText {
                        height: win.target
                        verticalAlignment: Text.AlignVCenter
                        font.bold: true
                        text: screen.turn.mode === "no_answer" ? qsTr("您是不是想问：")
                            : screen.turn.mode === "clarify" ? qsTr("您是想问：") : qsTr("还想了解：")
                    }
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
            Flickable {
                id: cardFlick
                Layout.fillWidth: true
                Layout.fillHeight: !win.portrait
                Layout.preferredWidth: 2
                Layout.preferredHeight: win.portrait ? sourceCard.implicitHeight : -1
                visible: screen.turn.card !== null && screen.turn.card !== undefined
                interactive: !win.portrait
                contentHeight: sourceCard.implicitHeight
                clip: true
                SourceCard {
                    id: sourceCard
                    objectName: "sourceCard"
                    width: cardFlick.width - (win.portrait ? 0 : cardMark.width + win.pad / 2)
                    guide: screen.turn.card
                }
                ScrollMark { id: cardMark; flick: cardFlick }
            }
        }
        ScrollMark { id: pageMark; flick: page }
    }
}
