import QtQuick
import QtQuick.Layouts

// Staff mode: handoffs, emergencies, knowledge-base gaps, device health, settings, guided
// explanations.
Rectangle {
    id: screen
    objectName: "staffScreen"
    color: theme.staffBg
    property string tab: "handoffs"
    readonly property var sdata: kiosk.staff.data

    function rowsFor(tab) {
        if (tab === "handoffs") return sdata.handoffs
        if (tab === "alerts") return sdata.alerts
        if (tab === "gaps") return sdata.gaps
        return []
    }
    function healthLabel(key) {
        if (key === "kb") return qsTr("知识库")
        if (key === "voice") return qsTr("语音")
        if (key === "robot") return qsTr("机器人")
        if (key === "network") return qsTr("网络")
        if (key === "outbox") return qsTr("员工通知")
        if (key === "sync") return qsTr("知识库同步")
        return key
    }

    ColumnLayout {
        anchors.fill: parent
        anchors.margins: win.pad
        spacing: win.pad

        RowLayout {
            Layout.fillWidth: true
            KText {
                Layout.fillWidth: true
                color: theme.onStaffBg
                font.pixelSize: win.fsLarge
                font.bold: true
                text: qsTr("工作人员模式")
            }
            KButton {
                objectName: "staffDismissEmergency"
                visible: kiosk.emergency.active
                text: qsTr("解除紧急画面")
                fill: theme.danger; ink: theme.onDanger
                onClicked: kiosk.staff.dismissEmergency()
            }
            KButton {
                objectName: "staffExit"
                text: qsTr("退出")
                fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
                onClicked: kiosk.staff.exit()
            }
        }
        Flow {
            Layout.fillWidth: true
            spacing: win.pad / 2
            Repeater {
                model: [
                    {"key": "handoffs", "label": qsTr("转人工")},
                    {"key": "alerts", "label": qsTr("紧急求助")},
                    {"key": "gaps", "label": qsTr("没答上的问题")},
                    {"key": "tours", "label": qsTr("讲解")},
                    {"key": "health", "label": qsTr("设备状态")},
                    {"key": "settings", "label": qsTr("设置")}
                ]
                KButton {
                    objectName: "staffTab_" + modelData.key
                    text: modelData.label
                    fill: screen.tab === modelData.key ? theme.primary : theme.staffPanel
                    ink: screen.tab === modelData.key ? theme.onPrimary : theme.onStaffPanel
                    outlined: screen.tab !== modelData.key
                    onClicked: { screen.tab = modelData.key; kiosk.staff.refresh() }
                }
            }
        }
        // Journal lists.
        ListView {
            id: rows
            objectName: "staffRows"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: ["handoffs", "alerts", "gaps"].indexOf(screen.tab) >= 0
            clip: true
            spacing: win.pad / 2
            model: screen.rowsFor(screen.tab)
            delegate: Rectangle {
                width: rows.width
                color: theme.staffPanel
                radius: 10
                implicitHeight: Math.max(win.target, rowLayout.implicitHeight + win.pad)
                RowLayout {
                    id: rowLayout
                    anchors.fill: parent
                    anchors.margins: win.pad / 2
                    spacing: win.pad
                    KText {
                        Layout.fillWidth: true
                        color: theme.onStaffPanel
                        text: modelData.ts + "  " + modelData.question
                              + (modelData.reason ? "  [" + modelData.reason + "]" : "")
                              + (modelData.callback ? "  " + modelData.callback : "")
                              + (modelData.category ? "  [" + modelData.category + "]" : "")
                              + (modelData.closest ? "\n" + qsTr("最接近：") + modelData.closest : "")
                              + (modelData.delivery ? "\n" + modelData.delivery : "")
                              + (modelData.open === false ? "  ✓" : "")
                    }
                    KButton {
                        visible: screen.tab === "handoffs" && modelData.open === true
                        text: qsTr("已处理")
                        fill: theme.primary; ink: theme.onPrimary
                        onClicked: kiosk.staff.closeHandoff(modelData.id)
                    }
                }
            }
            KText {
                anchors.centerIn: parent
                visible: rows.count === 0
                color: theme.onStaffBg
                text: qsTr("暂无记录")
            }
        }
        // Guided explanations.
        ListView {
            id: tours
            objectName: "staffTours"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: screen.tab === "tours"
            clip: true
            spacing: win.pad / 2
            model: screen.sdata.tours
            delegate: Rectangle {
                width: tours.width
                color: theme.staffPanel
                radius: 10
                implicitHeight: Math.max(win.target, tourRow.implicitHeight + win.pad)
                RowLayout {
                    id: tourRow
                    anchors.fill: parent
                    anchors.margins: win.pad / 2
                    spacing: win.pad
                    KText {
                        Layout.fillWidth: true
                        color: theme.onStaffPanel
                        text: modelData.title + qsTr("（%1 步）").arg(modelData.steps) + "\n" + modelData.summary
                    }
                    KButton {
                        objectName: "startTour_" + modelData.id
                        text: qsTr("开始讲解")
                        fill: theme.talk; ink: theme.onTalk
                        onClicked: kiosk.staff.startTour(modelData.id)
                    }
                }
            }
        }
        // Device health.
        Column {
            objectName: "staffHealth"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: screen.tab === "health"
            spacing: win.pad / 2
            Repeater {
                model: screen.sdata.health
                KText {
                    width: parent.width
                    color: theme.onStaffBg
                    text: screen.healthLabel(modelData.key) + "：" + modelData.value
                }
            }
        }
        // Settings: volume, language, text size, e-stop reset.
        Column {
            objectName: "staffSettings"
            Layout.fillWidth: true
            Layout.fillHeight: true
            visible: screen.tab === "settings"
            spacing: win.pad
            Row {
                spacing: win.pad
                KText { anchors.verticalCenter: parent.verticalCenter; color: theme.onStaffBg; text: qsTr("音量") }
                KButton {
                    objectName: "volumeDown"
                    text: "−"
                    fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
                    onClicked: kiosk.staff.setVolume(kiosk.staff.volume - 0.1)
                }
                KText {
                    objectName: "volumeValue"
                    anchors.verticalCenter: parent.verticalCenter
                    color: theme.onStaffBg
                    text: Math.round(kiosk.staff.volume * 100) + "%"
                }
                KButton {
                    objectName: "volumeUp"
                    text: "+"
                    fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
                    onClicked: kiosk.staff.setVolume(kiosk.staff.volume + 0.1)
                }
            }
            Row {
                spacing: win.pad
                KText { anchors.verticalCenter: parent.verticalCenter; color: theme.onStaffBg; text: qsTr("语言") }
                KButton {
                    text: "中文"
                    fill: kiosk.lang === "zh" ? theme.primary : theme.staffPanel; ink: theme.onPrimary
                    onClicked: kiosk.staff.setLang("zh")
                }
                KButton {
                    text: "English"
                    fill: kiosk.lang === "en" ? theme.primary : theme.staffPanel; ink: theme.onPrimary
                    onClicked: kiosk.staff.setLang("en")
                }
            }
            Row {
                spacing: win.pad
                KText { anchors.verticalCenter: parent.verticalCenter; color: theme.onStaffBg; text: qsTr("字号 %1%").arg(Math.round(kiosk.textScale * 100)) }
                KButton {
                    text: qsTr("换字号")
                    fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
                    onClicked: kiosk.cycleTextScale()
                }
            }
            KButton {
                objectName: "estopReset"
                visible: screen.sdata.estop === true
                text: qsTr("机器人急停复位（先松开急停按钮）")
                fill: theme.danger; ink: theme.onDanger
                onClicked: kiosk.staff.resetEstop()
            }
        }
    }
}
