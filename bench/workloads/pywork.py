"""CPython workload of the growprof benchmark (run with PYTHONMALLOC=malloc).

    python3 pywork.py [N]      N records (default 120000)

Builds N small dicts (nested lists and strings), dumps them to JSON and loads them back,
grows a bytearray by small appends, joins a long str piece by piece, and prints digests
that do not depend on addresses, hashing seeds or timing.
"""
import hashlib
import json
import sys


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 120000

    # 1. N dicts: every object and dict resize goes through malloc/realloc/free.
    records = []
    for i in range(n):
        rec = {
            "id": i,
            "name": "user%06d" % i,
            "tags": ["t%d" % (i % 7), "g%d" % (i % 13)],
            "score": (i * 7919) % 1000 / 10.0,
            "active": i % 3 == 0,
        }
        if i % 5 == 0:
            rec["extra"] = {"k%d" % j: j * i for j in range(i % 11)}
        records.append(rec)

    # 2. JSON dump and load, twice: the encoder's output grows by realloc.
    text = json.dumps(records)
    back = json.loads(text)
    assert back == records
    text2 = json.dumps(back, indent=1, sort_keys=True)
    back2 = json.loads(text2)
    print("json", len(text), len(text2), hashlib.sha256(text2.encode()).hexdigest()[:16])

    # 3. bytearray appends: many small extends of one growing buffer, and many short ones.
    buf = bytearray()
    for rec in back2:
        buf += rec["name"].encode()
        buf.append(44)
        buf.extend(b"%d;" % rec["id"])
    small = [bytearray() for _ in range(64)]
    for i in range(n * 2):
        small[i % 64] += b"x" * (i % 17 + 1)
        if len(small[i % 64]) > 4096:
            small[i % 64] = bytearray()
    print("bytearray", len(buf), hashlib.sha256(buf).hexdigest()[:16], sum(len(b) for b in small))

    # 4. Aggregation into dicts of lists, and a str grown by +=.
    groups = {}
    for rec in back:
        groups.setdefault(rec["tags"][0], []).append(rec["id"])
    s = ""
    for k in sorted(groups):
        for v in groups[k][:2000]:
            s += "%s=%d," % (k, v)
    print("groups", len(groups), sum(len(v) for v in groups.values()), len(s),
          hashlib.sha256(s.encode()).hexdigest()[:16])


main()
