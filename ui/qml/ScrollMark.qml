import QtQuick

// Where the reader is in a Flickable that holds more than it shows (drag the text to scroll).
// Declare it inside the Flickable and name that Flickable as `flick`: it positions itself
// against the view, not the content.
Rectangle {
    required property Flickable flick
    visible: flick.contentHeight > flick.height + 1
    x: flick.width - width
    y: flick.contentY + flick.visibleArea.yPosition * flick.height
    z: 10
    width: 10 * win.u
    height: Math.max(width, flick.visibleArea.heightRatio * flick.height)
    radius: width / 2
    color: theme.line
}
