"""The serial bridge to the robot's motion and display controller: the protocol (PROTOCOL.md),
COBS framing with CRC-16, reliable delivery, the host link, the robot API and the simulator."""
