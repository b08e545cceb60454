import QtQuick

// A big touch target: at least theme.minTarget (88 px) high and twice that wide.
Rectangle {
    id: b
    property alias text: label.text
    property color fill: theme.primary
    property color ink: theme.onPrimary
    property real fontSize: win.fs
    property bool outlined: false
    property int maxLines: 100  // longer labels are elided (…) rather than growing the button
    signal clicked()

    implicitWidth: Math.max(win.target * 1.6, label.implicitWidth + win.pad * 2)
    implicitHeight: Math.max(win.target, label.implicitHeight + win.pad)
    radius: 14 * win.u
    color: mouse.pressed ? Qt.darker(fill, 1.3) : fill
    border.width: outlined ? Math.max(3, 3 * win.u) : 0
    border.color: theme.line
    visible: true

    Text {
        id: label
        anchors.centerIn: parent
        width: parent.width - win.pad
        horizontalAlignment: Text.AlignHCenter
        height: parent.height - win.pad / 2
        verticalAlignment: Text.AlignVCenter
        // Whole words: a word too long for the button shrinks the label (never below the small
        // size) instead of breaking in the middle ("Servic / es" at the largest text size).
        wrapMode: Text.WordWrap
        fontSizeMode: Text.Fit
        minimumPixelSize: Math.min(b.fontSize, win.fsSmall)
        maximumLineCount: b.maxLines
        elide: Text.ElideRight
        color: b.ink
        font.pixelSize: b.fontSize
        font.bold: true
        font.features: win.fontFeatures(text)
        textFormat: Text.PlainText
    }
    MouseArea {
        id: mouse
        anchors.fill: parent
        onClicked: b.clicked()
    }
}
