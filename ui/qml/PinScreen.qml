import QtQuick
import QtQuick.Layouts

// The staff PIN pad. Wrong PINs count towards a lockout (kiosk.staff.pin).
Rectangle {
    id: screen
    color: theme.staffBg
    property string entered: ""
    readonly property var pin: kiosk.staff.pin

    function message() {
        if (!pin.isSet) return qsTr("还没有设置管理密码：请在设备上运行 kiosk staff set-pin")
        if (pin.busy) return qsTr("正在核对……")
        // each further lockout doubles (up to a day): long ones in hours
        if (pin.locked && pin.retryAfter > 2 * 3600) return qsTr("输错次数太多，已锁定，请 %1 小时后再试").arg(Math.ceil(pin.retryAfter / 3600))
        if (pin.locked) return qsTr("输错次数太多，已锁定，请 %1 分钟后再试").arg(Math.ceil(pin.retryAfter / 60))
        if (pin.error === "wrong") return qsTr("密码不对，还可以试 %1 次").arg(pin.triesLeft)
        return qsTr("请输入工作人员密码")
    }
    Timer {
        interval: 1000; repeat: true; running: screen.pin.locked
        onTriggered: kiosk.staff.refreshPin()
    }
    Connections {
        target: kiosk.staff
        function onPinChanged() { if (!kiosk.staff.pin.busy) screen.entered = "" }
    }

    ColumnLayout {
        anchors.centerIn: parent
        width: Math.min(parent.width - 4 * win.pad, 900 * win.u)
        spacing: win.short ? win.pad / 2 : win.pad
        KText {
            objectName: "pinMessage"
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            color: theme.onStaffBg
            font.bold: true
            text: screen.message()
        }
        KText {
            objectName: "pinDots"
            Layout.fillWidth: true
            horizontalAlignment: Text.AlignHCenter
            color: theme.onStaffBg
            font.pixelSize: win.fsTitle
            text: "●".repeat(screen.entered.length) + "○".repeat(Math.max(0, 4 - screen.entered.length))
        }
        GridLayout {
            Layout.alignment: Qt.AlignHCenter
            columns: 3
            columnSpacing: win.pad / 2
            rowSpacing: win.pad / 2
            enabled: screen.pin.isSet && !screen.pin.locked && !screen.pin.busy
            Repeater {
                model: ["1", "2", "3", "4", "5", "6", "7", "8", "9", "clear", "0", "ok"]
                KButton {
                    objectName: "pin_" + modelData
                    Layout.preferredWidth: win.target * 1.8
                    Layout.preferredHeight: win.short ? win.target : win.target * 1.1
                    text: modelData === "clear" ? qsTr("清除") : (modelData === "ok" ? qsTr("确定") : modelData)
                    fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
                    onClicked: {
                        if (modelData === "clear") screen.entered = ""
                        else if (modelData === "ok") kiosk.staff.submitPin(screen.entered)
                        else if (screen.entered.length < 12) screen.entered += modelData
                    }
                }
            }
        }
        KButton {
            objectName: "pinCancel"
            Layout.alignment: Qt.AlignHCenter
            text: qsTr("返回")
            fill: theme.staffPanel; ink: theme.onStaffPanel; outlined: true
            onClicked: { screen.entered = ""; kiosk.staff.cancelPin() }
        }
    }
}
