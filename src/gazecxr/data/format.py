"""Column layout of the MIMIC-Eye files, exactly as in ``mimic-eye-format.md``.

The one place that lists the columns of every table: the synthetic-cohort writer
(:mod:`gazecxr.synth.tables`) and the test fixtures write them from here; the readers look columns
up by name and never by position. Label columns come from :mod:`gazecxr.data.labels`.
"""

from __future__ import annotations

from gazecxr.data.labels import CHEXPERT_COLUMNS, REFLACX_PHASE1_LABELS, REFLACX_PHASE23_LABELS

CROP_COLUMNS = [
    "xmin_shown_from_image",
    "ymin_shown_from_image",
    "xmax_shown_from_image",
    "ymax_shown_from_image",
    "xmin_in_screen_coordinates",
    "ymin_in_screen_coordinates",
    "xmax_in_screen_coordinates",
    "ymax_in_screen_coordinates",
]
# fixations.csv and gaze.csv share every column after their timestamps.
_REFLACX_SAMPLE_COLUMNS = [
    "x_position",
    "y_position",
    "pupil_area_normalized",
    "angular_resolution_x_pixels_per_degree",
    "angular_resolution_y_pixels_per_degree",
    "window_width",
    "window_level",
    *CROP_COLUMNS,
]
REFLACX_FIXATION_COLUMNS = ["timestamp_start_fixation", "timestamp_end_fixation", *_REFLACX_SAMPLE_COLUMNS]
REFLACX_GAZE_COLUMNS = ["timestamp_sample", *_REFLACX_SAMPLE_COLUMNS]
# MIMIC-Eye's concatenated REFLACX metadata (pandas concat of phases 1, 2, 3): the phase-1 label
# columns, then the phase-2/3 columns phase 1 lacks (checked against the MIMIC-Eye builder's file).
REFLACX_META_LABELS = [
    *REFLACX_PHASE1_LABELS,
    *[c for c in REFLACX_PHASE23_LABELS if c not in REFLACX_PHASE1_LABELS],
]
# The per-phase files of the stand-alone release: these columns, then that phase's labels.
REFLACX_META_HEADER = [
    "id",
    "split",
    "eye_tracking_data_discarded",
    "image",
    "dicom_id",
    "subject_id",
    "image_size_x",
    "image_size_y",
]
REFLACX_META_COLUMNS = [*REFLACX_META_HEADER, *REFLACX_META_LABELS]
CXR_META_COLUMNS = [
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
    "in_eye_gaze",
    "in_reflacx",
    "StudyDateTime",
    "stay_id",
]
EYEGAZE_GAZE_COLUMNS = [
    "SESSION_ID",
    "MEDIA_ID",
    "DICOM_ID",
    "CNT",
    "Time (in secs)",
    "TIMETICK(f=10000000)",
    "FPOGX",
    "FPOGY",
    "FPOGS",
    "FPOGD",
    "FPOGID",
    "FPOGV",
    "BPOGX",
    "BPOGY",
    "BPOGV",
    "LPCX",
    "LPCY",
    "LPD",
    "LPS",
    "LPV",
    "RPCX",
    "RPCY",
    "RPD",
    "RPS",
    "RPV",
    "BKID",
    "BKDUR",
    "BKPMIN",
    "LPMM",
    "LPMMV",
    "RPMM",
    "RPMMV",
    "SACCADE_MAG",
    "SACCADE_DIR",
    "VID_FRAME",
    "X_ORIGINAL",
    "Y_ORIGINAL",
]
EYEGAZE_GRANULAR = [
    "consolidation",
    "enlarged_cardiac_silhouette",
    "linear__patchy_atelectasis",
    "lobar__segmental_collapse",
    "not_otherwise_specified_opacity___pleural__parenchymal_opacity__",
    "pleural_effusion_or_thickening",
    "pulmonary_edema__hazy_opacity",
    "normal_anatomically",
    "elevated_hemidiaphragm",
    "hyperaeration",
    "vascular_redistribution",
]
EYEGAZE_CHX = [c.lower().replace(" ", "_") + "__chx" for c in CHEXPERT_COLUMNS]
MASTER_COLUMNS = [
    "dicom_id",
    "path",
    "study_id",
    "patient_id",
    "stay_id",
    "gender",
    "anchor_age",
    "image_top_pad",
    "image_bottom_pad",
    "image_left_pad",
    "image_right_pad",
    *[c for k in range(1, 10) for c in (f"dx{k}", f"dx{k}_icd")],
    "normal_reports",
    "Normal",
    "CHF",
    "pneumonia",
    *EYEGAZE_GRANULAR,
    *EYEGAZE_CHX,
    "cxr_exam_indication",
]
