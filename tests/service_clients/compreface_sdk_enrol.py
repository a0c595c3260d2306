"""Run inside a venv holding compreface-sdk==0.6.0 (unmodified), as a new user would: enrol the
first photo of each person with `faces.add`, then recognise each person's other photo. Prints
every answer as JSON. Arguments: URL PORT ADMIN_KEY PEOPLE_JSON ([{name, enrol, probe, det?}, ...])."""
import json
import sys

from compreface import CompreFace

url, port, key, people = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
rec = CompreFace(url, port, {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 1}).init_face_recognition(key)
faces = rec.get_face_collection()
out = {"added": [faces.add(image_path=p["enrol"], subject=p["name"],
                           options={"det_prob_threshold": p.get("det", 0.8)}) for p in people]}
out["recognised"] = [rec.recognize(image_path=p["probe"]) for p in people]
out["subjects"] = rec.get_subjects().list()
print(json.dumps(out))
