import QtQuick
import QtQuick.Layouts

// A guided explanation: the step's slide or image, its narration as captions, the controls.
Rectangle {
    id: screen
    color: theme.bg
    readonly property var info: kiosk.tour.info
    readonly property var step: kiosk.tour.step
    onStepChanged: { slideFlick.contentY = 0; narrationFlick.contentY = 0 }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: 1.5 * win.pad
        spacing: win.pad

        RowLayout {
            Layout.fillWidth: true
            KText {
                objectName: "tourTitle"
                Layout.fillWidth: true
                font.pixelSize: win.fsLarge
                font.bold: true
                color: theme.primary
                text: screen.info.title
            }
            KText {
                objectName: "tourProgress"
                color: theme.muted
                text: qsTr("第 %1 / %2 步").arg(screen.info.index + 1).arg(screen.info.total)
            }
        }
        KText {
            objectName: "stepTitle"
            Layout.fillWidth: true
            font.pixelSize: win.fsTitle
            font.bold: true
            text: screen.step.title || ""
        }
        GridLayout {
            Layout.fillWidth: true
            Layout.fillHeight: true
            columns: win.portrait ? 1 : 2
            columnSpacing: win.pad
            rowSpacing: win.pad
            Rectangle {
                Layout.fillWidth: true
                Layout.fillHeight: true
                color: theme.panel
                radius: 16 * win.u
                visible: (screen.step.image || "") !== "" || (screen.step.bullets || []).length > 0
                Image {
                    objectName: "stepImage"
                    anchors.fill: parent
                    anchors.margins: win.pad
                    visible: (screen.step.image || "") !== ""
                    source: screen.step.image || ""
                    fillMode: Image.PreserveAspectFit
                    sourceSize.width: width
                    sourceSize.height: height
                }
                Flickable {
                    id: slideFlick
                    objectName: "slide"
                    anchors.fill: parent
                    anchors.margins: 1.5 * win.pad
                    visible: (screen.step.image || "") === ""
                    contentHeight: slideCol.implicitHeight
                    clip: true
                    ColumnLayout {
                        id: slideCol
                        width: slideFlick.width - slideMark.width - win.pad / 2
                        spacing: win.pad
                        KText {
                            Layout.fillWidth: true
                            font.pixelSize: win.fsLarge
                            font.bold: true
                            color: theme.primary
                            text: screen.step.heading || ""
                        }
                        Repeater {
                            model: screen.step.bullets || []
                            KText { Layout.fillWidth: true; text: "•  " + modelData }
                        }
                    }
                    ScrollMark { id: slideMark; flick: slideFlick }
                }
            }
            Flickable {
                id: narrationFlick
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentHeight: narration.implicitHeight
                clip: true
                KText {
                    id: narration
                    objectName: "narration"
                    width: narrationFlick.width - narrationMark.width - win.pad / 2
                    font.pixelSize: win.fsLarge
                    text: screen.step.narration || ""
                }
                ScrollMark { id: narrationMark; flick: narrationFlick }
            }
        }
        Flow {
            Layout.fillWidth: true
            spacing: win.pad / 2
            KButton {
                objectName: "tourAsk"
                text: qsTr("我要提问")
                fill: theme.talk; ink: theme.onTalk
                onClicked: kiosk.tour.ask()
            }
            KButton {
                objectName: "tourPause"
                text: screen.info.state === "paused" ? qsTr("继续") : qsTr("暂停")
                onClicked: screen.info.state === "paused" ? kiosk.tour.resume() : kiosk.tour.pause()
            }
            KButton { objectName: "tourRepeat"; text: qsTr("再讲一遍"); onClicked: kiosk.tour.repeat() }
            KButton { objectName: "tourSkip"; text: qsTr("下一步"); onClicked: kiosk.tour.skip() }
            KButton {
                objectName: "tourStop"
                text: qsTr("结束讲解")
                fill: theme.bg; ink: theme.fg; outlined: true
                onClicked: kiosk.tour.stop()
            }
        }
    }

    // A resident's question during the tour, answered by the normal engine.
    Rectangle {
        objectName: "tourQuestion"
        anchors.fill: parent
        visible: screen.info.state === "question"
        color: theme.bg
        ColumnLayout {
            anchors.fill: parent
            anchors.margins: 2 * win.pad
            spacing: win.pad
            KText {
                Layout.fillWidth: true
                color: theme.muted
                text: qsTr("您问：") + kiosk.caption
            }
            Flickable {
                id: tourAnswerFlick
                Layout.fillWidth: true
                Layout.fillHeight: true
                contentHeight: tourAnswer.implicitHeight
                clip: true
                ScrollMark { id: tourAnswerMark; flick: tourAnswerFlick }
                KText {
                    id: tourAnswer
                    objectName: "tourAnswer"
                    width: tourAnswerFlick.width - tourAnswerMark.width - win.pad / 2
                    font.pixelSize: win.fsLarge
                    text: kiosk.turn.answer !== "" ? kiosk.turn.answer : qsTr("正在查找……")
                }
            }
            KButton {
                objectName: "tourContinue"
                text: qsTr("继续讲解")
                fill: theme.talk; ink: theme.onTalk
                onClicked: kiosk.tour.resumeAfterQuestion()
            }
        }
    }
}
