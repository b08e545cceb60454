import QtQuick
import QtQuick.Layouts

// Greeting, "tap or speak", rotating community notices, a few common services.
Rectangle {
    id: screen
    color: theme.bg
    property int noticeIndex: 0

    Timer {
        interval: 8000; running: kiosk.notices.length > 1; repeat: true
        onTriggered: screen.noticeIndex = (screen.noticeIndex + 1) % kiosk.notices.length
    }
    MouseArea { anchors.fill: parent; onClicked: kiosk.go("conversation") }

    // Portrait: one column. Landscape: the greeting and the start button beside the community
    // notice, the topics across the bottom (a 1280x800 panel has no room for all of it in one
    // column: the notice ran out of its card and under the topics).
    GridLayout {
        anchors.fill: parent
        anchors.margins: win.short ? win.pad : 2 * win.pad
        columns: win.portrait ? 1 : 2
        columnSpacing: 2 * win.pad
        rowSpacing: win.short ? win.pad : 2 * win.pad

        ColumnLayout {
            Layout.fillWidth: true
            Layout.fillHeight: false
            Layout.alignment: Qt.AlignVCenter  // in landscape, centred beside the notice
            Layout.preferredWidth: 1  // with the notice's 1: half the width each in landscape
            spacing: 2 * win.pad

            KText {
                objectName: "greeting"
                Layout.fillWidth: true
                horizontalAlignment: Text.AlignHCenter
                font.pixelSize: win.fsTitle
                font.bold: true
                maximumLineCount: 2  // at the larger text sizes it shrinks to two lines
                fontSizeMode: Text.HorizontalFit
                minimumPixelSize: win.fsLarge
                elide: Text.ElideRight
                text: qsTr("您好！我是%1").arg(kiosk.site.assistant)
            }
            KText {
                Layout.fillWidth: true
                horizontalAlignment: Text.AlignHCenter
                color: theme.muted
                // With no guides (an emptied site) it cannot promise answers: the notice above says why.
                objectName: "aiNotice"
                text: kiosk.status.kb === "empty" ? qsTr("我是人工智能（AI），不是真人。")
                                                  : qsTr("我是人工智能（AI），不是真人。办事的问题可以问我。")
            }
            KButton {
                objectName: "startButton"
                Layout.alignment: Qt.AlignHCenter
                Layout.fillWidth: !win.portrait
                Layout.preferredWidth: Math.min(screen.width - 4 * win.pad, 1000 * win.u)
                Layout.preferredHeight: win.short ? win.target * 1.3 : win.target * 1.6
                fontSize: win.fsLarge
                text: kiosk.status.voice ? qsTr("点这里开始，或直接说话") : qsTr("点这里开始")
                onClicked: kiosk.go("conversation")
            }
        }
        Rectangle {
            id: notice
            objectName: "notice"
            Layout.fillWidth: true
            Layout.fillHeight: true
            Layout.preferredWidth: 1
            Layout.minimumHeight: win.target * 2
            visible: kiosk.notices.length > 0
            color: theme.panel
            radius: 16 * win.u
            clip: true
            property var current: kiosk.notices.length > 0 ? kiosk.notices[screen.noticeIndex % kiosk.notices.length] : null
            readonly property real linePx: lineMetrics.height * summary.lineHeight  // one line of body text
            FontMetrics { id: lineMetrics; font: summary.font }

            // Body text given whatever height the layout has for it, shown in whole lines (at
            // most maxLines; the rest elided), or not at all when not one line fits.
            component WholeLines: KText {
                property int maxLines: 1000
                Layout.fillWidth: true
                Layout.fillHeight: true
                Layout.minimumHeight: 0
                opacity: height >= notice.linePx ? 1 : 0
                maximumLineCount: Math.max(1, Math.min(maxLines, Math.floor(height / notice.linePx)))
                elide: Text.ElideRight
            }
            ColumnLayout {
                anchors.fill: parent
                anchors.margins: win.pad
                spacing: win.pad
                KText {
                    color: theme.primary
                    font.bold: true
                    text: qsTr("社区通知") + (kiosk.notices.length > 1 ? "  " + (screen.noticeIndex % kiosk.notices.length + 1) + "/" + kiosk.notices.length : "")
                }
                KText {
                    objectName: "noticeTitle"
                    Layout.fillWidth: true
                    font.pixelSize: win.fsLarge
                    font.bold: true
                    maximumLineCount: 2
                    fontSizeMode: Text.HorizontalFit  // two lines at any text size: it shrinks, then elides
                    minimumPixelSize: win.fs
                    elide: Text.ElideRight
                    text: notice.current ? notice.current.title : ""
                }
                WholeLines {
                    // As many whole lines as there is room for (up to 6), before the summary.
                    id: noticeWhen
                    objectName: "noticeWhen"
                    maxLines: 6
                    Layout.preferredHeight: whenWhole.implicitHeight
                    Layout.maximumHeight: whenWhole.implicitHeight
                    color: theme.muted
                    visible: text !== ""
                    text: {
                        var n = notice.current
                        if (!n) return ""
                        var parts = []
                        if (n.when) parts.push(qsTr("时间：") + n.when)
                        if (n.where) parts.push(qsTr("地点：") + n.where)
                        return parts.join("\n")
                    }
                }
                WholeLines {
                    // Whatever height is left under the title, time and place.
                    id: summary
                    objectName: "noticeSummary"
                    Layout.preferredHeight: 0  // only what the title, time and place leave
                    verticalAlignment: Text.AlignTop
                    text: notice.current ? notice.current.summary : ""
                }
                KText {
                    // The time and place unelided, for their height (a text's own implicit height
                    // follows its line limit, which follows its height).
                    id: whenWhole
                    visible: false
                    width: parent.width
                    maximumLineCount: 6
                    text: noticeWhen.text
                }
            }
        }
        GridLayout {
            Layout.fillWidth: true
            Layout.fillHeight: false  // a layout fills by default: the notice takes what is left
            Layout.columnSpan: win.portrait ? 1 : 2
            columns: win.portrait ? 2 : 4
            columnSpacing: win.pad
            rowSpacing: win.pad
            Repeater {
                model: kiosk.topics.slice(0, 4)
                KButton {
                    objectName: "attractTopic_" + index
                    Layout.fillWidth: true
                    Layout.fillHeight: true
                    Layout.preferredWidth: 1  // equal columns, whatever the titles' lengths
                    maxLines: 2
                    text: modelData.title
                    fill: theme.panel; ink: theme.primary; outlined: true
                    onClicked: kiosk.ask(modelData.question)
                }
            }
        }
    }
}
