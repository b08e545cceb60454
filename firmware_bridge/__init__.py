"""The serial bridge to the robot's motion and display controller: filled by the robot release."""
