"""ECG data: lead conventions, the synthetic simulator, real-data readers (PTB-XL, ICBEB2018)."""
