"""Attendance (考勤): check-in by face, schedules, day status, reports, corrections."""
