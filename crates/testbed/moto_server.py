"""moto_server, as the tests start it, with one change to the emulator's S3.

moto's ListObjectVersions deep-copies every version of every key in the bucket on each call,
before it filters by the request's prefix. Firebreak's readers list the versions of the one key
they read (they read its first version), so under the reliability tests' thousands of reads the
emulator's memory and time grow with the square of the bucket: it ran out of memory at 24 GiB.
Here the keys outside the prefix are left out before the copy; they were dropped after it, so
every answer to a listing of a prefix, and to the next page of one (markers inside the prefix,
as the SDK's paging sends them), is the same. A key marker outside the prefix is answered
differently; Firebreak never sends one.

moto's Step Functions interpreter (when a test turns it on) calls S3 and Lambda back through
the server at localhost:$MOTO_PORT; the server is started on port 0, so the port it was given is
put there once it listens. Nothing else of moto changes.

Usage: python moto_server.py [--serial] <moto_server arguments>
--serial makes werkzeug serve one request at a time (see `Moto::start_serial`).
"""

import inspect
import sys
import textwrap

import moto.s3.models as models
import moto.server as server

OLD = "for key, version_key in bucket.keys.iterlists()"
NEW = "for key, version_key in bucket.keys.iterlists() if key.startswith(prefix)"


def prefix_first():
    method = models.S3Backend.list_object_versions
    source = textwrap.dedent(inspect.getsource(method))
    if source.count(OLD) != 1:
        print("moto_server.py: ListObjectVersions is not as expected; left as it is", file=sys.stderr)
        return
    namespace = dict(vars(models))
    exec(compile(source.replace(OLD, NEW), models.__file__, "exec"), namespace)
    models.S3Backend.list_object_versions = namespace["list_object_versions"]


def own_port():
    import os

    import werkzeug.serving as serving

    make_server = serving.make_server

    def listening(*args, **kwargs):
        server = make_server(*args, **kwargs)
        os.environ["MOTO_PORT"] = str(server.port)
        return server

    serving.make_server = listening


def main(args):
    prefix_first()
    own_port()
    if args[:1] == ["--serial"]:
        args = args[1:]
        serve = server.run_simple
        server.run_simple = lambda *a, **k: serve(*a, **{**k, "threaded": False})
    server.main(args)


if __name__ == "__main__":
    main(sys.argv[1:])
