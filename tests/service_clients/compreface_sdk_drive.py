"""Run inside a venv holding compreface-sdk==0.6.0 (unmodified): drives every call of the SDK
against the server given on the command line and prints the answers as JSON."""
import json
import sys

from compreface import CompreFace

url, port, admin_key, recognize_key, photos = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
options = {"limit": 0, "det_prob_threshold": 0.8, "prediction_count": 2,
           "face_plugins": "landmarks,calculator,age,gender,mask", "status": "true"}
cf = CompreFace(url, port, options)
rec = cf.init_face_recognition(admin_key)
faces, subjects = rec.get_face_collection(), rec.get_subjects()
out = {}
out["add_subject"] = subjects.add("Joe Biden")
out["add_obama"] = faces.add(image_path=photos["obama"], subject="Barack Obama")
out["add_obama2"] = faces.add(image_path=photos["obama2"], subject="Barack Obama", options={"det_prob_threshold": 0.5})
out["add_biden"] = faces.add(image_path=photos["biden"], subject="Joe Biden")
for name, path in photos["lfw"].items():
    out.setdefault("add_lfw", []).append(faces.add(image_path=path, subject=name))
out["add_noface"] = faces.add(image_path=photos["noface"], subject="Nobody")
out["list_faces"] = faces.list()
out["subjects"] = subjects.list()
reader = cf.init_face_recognition(recognize_key)
out["recognize_group"] = reader.recognize(image_path=photos["group"])
out["recognize_no_plugins"] = reader.recognize(image_path=photos["obama_probe"], options={"det_prob_threshold": 0.8})
out["recognize_noface"] = reader.recognize(image_path=photos["noface"])
out["verify_by_id"] = reader.get_face_collection().verify(image_path=photos["obama_probe"],
                                                          image_id=out["add_obama"]["image_id"])
out["detect"] = cf.init_face_detection(recognize_key).detect(image_path=photos["group"])
out["verify"] = cf.init_face_verification(recognize_key).verify(source_image_path=photos["obama"],
                                                                target_image_path=photos["group"])
out["recognize_forbidden_add"] = reader.get_face_collection().add(image_path=photos["obama"], subject="X")
out["rename"] = subjects.update("Joe Biden", "Joseph Biden")
out["subjects_after_rename"] = subjects.list()
out["delete_one"] = faces.delete(out["add_obama2"]["image_id"])
out["list_after_delete_one"] = faces.list()
out["delete_all_of_subject"] = faces.delete_all("Joseph Biden")
out["recognize_after_delete"] = reader.recognize(image_path=photos["biden"])
out["delete_subject"] = subjects.delete("Barack Obama")
out["delete_all"] = subjects.delete_all()
out["subjects_end"] = subjects.list()
out["faces_end"] = faces.list()
print(json.dumps(out))
