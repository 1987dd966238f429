# bytes += (bytes cannot grow: every += builds a new object and copies both parts) and
# str += of varying slices, in a function (locals: the old object is freed by the
# evaluation loop) and at module level (globals: by the dict store).
def build():
    out = b""
    for i in range(4000):
        out += b"x" * 37
    return out


s = ""
for i in range(3000):
    s += "y" * (i % 20 + 1)
glob = b""
for i in range(2000):
    glob += b"z" * 37
print(len(build()), len(s), len(glob))
