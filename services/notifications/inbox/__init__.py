"""The inbox and the live stream: one entry per delegation and event, rendered for people,
numbered per delegation so that a stream resumes without a gap."""
