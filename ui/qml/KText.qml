import QtQuick

// Body text: at least 32 px on a 1080-pixel screen, wraps, high-contrast ink.
Text {
    color: theme.fg
    font.pixelSize: win.fs
    wrapMode: Text.Wrap
    lineHeight: 1.2
    textFormat: Text.PlainText
    font.features: win.fontFeatures(text)
}
