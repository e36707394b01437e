"""The 9 diagnostic classes of the ICBEB 2018 (CPSC) challenge, in index order.

Every ECG task (synthetic and real) labels records with an int64 index into
ECG_CLASSES; y[i] == ECG_CLASSES.index(name).

    NORM   normal sinus rhythm
    AF     atrial fibrillation
    I-AVB  first-degree atrioventricular block (PR > 200 ms)
    LBBB   left bundle branch block
    RBBB   right bundle branch block
    PAC    premature atrial contraction
    PVC    premature ventricular contraction
    STD    ST-segment depression
    STE    ST-segment elevation
"""

from __future__ import annotations

ECG_CLASSES = ("NORM", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE")
NUM_ECG_CLASSES = len(ECG_CLASSES)
