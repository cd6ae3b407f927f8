"""Converts the UCI SMSSpamCollection (label<TAB>text per line) into sms_spam.jsonl with fields label, text.

Run from this folder: python3 to_jsonl.py. Nothing is changed but the container format.
"""
import json

with open("SMSSpamCollection", encoding="utf-8") as src, open("sms_spam.jsonl", "w", encoding="utf-8") as out:
    for line in src:
        label, text = line.rstrip("\n").split("\t", 1)
        out.write(json.dumps({"label": label, "text": text}, ensure_ascii=False) + "\n")
