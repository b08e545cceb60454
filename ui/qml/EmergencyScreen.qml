import QtQuick
import QtQuick.Layouts

// Full-screen emergency guidance and numbers. Stays until staff dismiss it (staff mode) or the
// resident confirms, twice, that the danger is over.
Rectangle {
    id: screen
    color: theme.danger
    property bool confirming: false

    function numberLabel(key) {
        if (key === "police") return qsTr("报警")
        if (key === "fire") return qsTr("火警")
        if (key === "ambulance") return qsTr("急救")
        if (key === "gas") return qsTr("燃气抢修")
        if (key === "property") return qsTr("物业")
        return qsTr("社区值班")
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: win.short ? win.pad : 1.5 * win.pad
        spacing: win.short ? win.pad / 2 : win.pad

        KText {
            objectName: "emergencyTitle"
            Layout.fillWidth: true
            color: theme.onDanger
            font.pixelSize: win.short ? win.fsTitle : win.fsTitle * 1.2
            font.bold: true
            text: kiosk.emergency.check ? qsTr("请确认：您现在有危险吗？") : qsTr("紧急情况  请按下面做")
        }
        KText {
            Layout.fillWidth: true
            color: theme.onDanger
            visible: kiosk.emergency.question !== ""
            text: qsTr("您说：") + kiosk.emergency.question + (kiosk.emergency.since ? "（" + kiosk.emergency.since + "）" : "")
        }
        KText {
            // the alert has not reached the staff on duty: the resident must not count on it
            objectName: "alertUndelivered"
            Layout.fillWidth: true
            visible: kiosk.status.alertUndelivered === true
            color: theme.onDanger
            font.bold: true
            text: qsTr("工作人员暂未收到通知，请直接拨打值班电话 %1").arg(kiosk.site.dutyPhone)
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
                Layout.preferredWidth: 3
                color: theme.dangerPanel
                radius: 16 * win.u
                Flickable {
                    id: guidanceFlick
                    anchors.fill: parent
                    anchors.margins: win.short ? win.pad : 1.5 * win.pad
                    contentHeight: Math.max(guidance.height, guidance.contentHeight)
                    clip: true
                    ScrollMark { id: guidanceMark; flick: guidanceFlick; color: theme.onDangerPanel }
                    KText {
                        // Every step in view without scrolling where it can be: the text shrinks to
                        // fit its panel, down to the small size (a 1280x800 panel hid step 3, the
                        // property's 24-hour phone, below the fold); past that it scrolls.
                        id: guidance
                        objectName: "emergencyGuidance"
                        width: guidanceFlick.width - guidanceMark.width - win.pad / 2
                        height: guidanceFlick.height
                        fontSizeMode: Text.VerticalFit
                        minimumPixelSize: win.fsSmall
                        color: theme.onDangerPanel
                        font.pixelSize: win.fsLarge
                        font.bold: true
                        text: kiosk.emergency.text !== "" ? kiosk.emergency.text : kiosk.turn.answer
                    }
                }
            }
            GridLayout {
                // The numbers take the height there is and their text fits the tile, so with the
                // largest text size the buttons below stay on screen (they were pushed off it).
                Layout.fillWidth: true
                Layout.fillHeight: true
                Layout.preferredWidth: 2
                columns: 2
                columnSpacing: win.pad / 2
                rowSpacing: win.pad / 2
                Repeater {
                    model: kiosk.site.emergencyNumbers
                    Rectangle {
                        Layout.fillWidth: true
                        Layout.fillHeight: true
                        Layout.preferredHeight: win.target * 1.3
                        Layout.maximumHeight: win.target * 2
                        color: theme.dangerPanel
                        radius: 12 * win.u
                        ColumnLayout {
                            anchors.fill: parent
                            anchors.margins: win.pad / 4
                            spacing: 0
                            Text {
                                Layout.fillWidth: true
                                Layout.fillHeight: true
                                Layout.preferredHeight: 2
                                horizontalAlignment: Text.AlignHCenter
                                verticalAlignment: Text.AlignBottom
                                color: theme.onDangerPanel
                                font.pixelSize: win.fs
                                fontSizeMode: Text.Fit
                                minimumPixelSize: win.fsSmall * 0.75
                                text: screen.numberLabel(modelData.key)
                            }
                            Text {
                                Layout.fillWidth: true
                                Layout.fillHeight: true
                                Layout.preferredHeight: 3
                                horizontalAlignment: Text.AlignHCenter
                                verticalAlignment: Text.AlignVCenter
                                color: theme.onDangerPanel
                                font.pixelSize: win.fsTitle
                                fontSizeMode: Text.Fit
                                minimumPixelSize: win.fsSmall
                                font.bold: true
                                text: modelData.number
                            }
                        }
                    }
                }
            }
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: win.pad
            visible: kiosk.emergency.check === true
            Repeater {
                model: kiosk.emergency.options
                KButton {
                    objectName: "checkReply_" + index
                    Layout.fillWidth: true
                    text: modelData
                    fill: index === 0 ? theme.onDanger : theme.dangerPanel
                    ink: index === 0 ? theme.danger : theme.onDangerPanel
                    onClicked: kiosk.ask(modelData)
                }
            }
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: win.pad
            visible: !screen.confirming && kiosk.emergency.check !== true
            KButton {
                objectName: "safeButton"
                Layout.fillWidth: true
                text: qsTr("危险已经解除")
                fill: theme.dangerPanel; ink: theme.onDangerPanel
                onClicked: screen.confirming = true
            }
            KButton {
                objectName: "staffDismissButton"
                Layout.fillWidth: true
                text: qsTr("工作人员处理")
                fill: theme.dangerPanel; ink: theme.onDangerPanel
                onClicked: kiosk.staff.open()
            }
        }
        RowLayout {
            Layout.fillWidth: true
            spacing: win.pad
            visible: screen.confirming
            KText {
                Layout.fillWidth: true
                color: theme.onDanger
                font.bold: true
                text: qsTr("确定已经安全了吗？")
            }
            KButton {
                objectName: "confirmSafeButton"
                text: qsTr("是，已经安全")
                fill: theme.dangerPanel; ink: theme.onDangerPanel
                onClicked: { screen.confirming = false; kiosk.confirmSafe() }
            }
            KButton {
                objectName: "notSafeButton"
                text: qsTr("不，还需要帮助")
                fill: theme.dangerPanel; ink: theme.onDangerPanel
                onClicked: screen.confirming = false
            }
        }
    }
}
