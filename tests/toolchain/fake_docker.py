"""A stand-in for the docker-py client: records container runs and replays scripted output."""

class FakeContainer:
    def __init__(self, output: bytes, status: int, on_run=None):
        self.output, self.status, self.removed = output, status, False
        self.on_run = on_run

    def logs(self, stream=True, follow=True):
        if self.on_run:
            self.on_run()
        yield self.output

    def wait(self):
        return {"StatusCode": self.status}

    def remove(self, force=False):
        self.removed = True


class FakeImage:
    def __init__(self, tag, labels=None):
        self.id = f"sha256:{'ab' * 32}"
        self.attrs = {"Size": 123, "Config": {"Labels": dict(labels or {})}}
        self.tag = tag


class FakeClient:
    """Records container runs; `script` decides what each run prints, returns and does."""

    def __init__(self, images=(), script=None):
        import docker

        self._images = set(images)
        self.labels: dict[str, dict] = {}  # image name -> its labels
        self.runs = []
        self.builds = []  # keyword arguments of each api.build call
        self.script = script or (lambda call: (b"ok\n", 0, None))
        self.errors = docker.errors
        client = self

        class Images:
            def get(self, name):
                if name not in client._images:
                    raise docker.errors.ImageNotFound(name)
                return FakeImage(name, client.labels.get(name))

        class Volumes:
            def get(self, name):
                return object()

        class Containers:
            def run(self, image, command, **kwargs):
                call = {"image": image, "command": command, **kwargs}
                client.runs.append(call)
                output, status, effect = client.script(call)
                return FakeContainer(output, status, effect)

        class Api:
            def build(self, **kwargs):
                client.builds.append(kwargs)
                client._images.add(kwargs["tag"])
                client.labels[kwargs["tag"]] = kwargs.get("labels") or {}
                yield {"stream": "Successfully built\n"}

        self.images, self.volumes, self.containers = Images(), Volumes(), Containers()
        self.api = Api()

    def ping(self):
        return True

    def version(self):
        return {"Version": "99.0-fake"}
