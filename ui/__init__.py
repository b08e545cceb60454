"""The touchscreen (Qt): filled by the touchscreen release."""
