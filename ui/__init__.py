"""The touchscreen (Qt Quick): the window, the screens and their controller, staff mode, guided
explanations, the pinyin keyboard, translations and screenshots."""
