"""``facerec doctor``: checks that database rows, files and the vector index agree, and
repairs what is safe to repair (see :mod:`facerec.doctor.service`)."""

from facerec.doctor.report import KINDS, DoctorReport, Finding, KindSummary
from facerec.doctor.service import doctor_for, run_doctor

__all__ = ["KINDS", "DoctorReport", "Finding", "KindSummary", "doctor_for", "run_doctor"]
