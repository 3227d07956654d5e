"""A user of a step's app, for tests: conftest.py's `account` fixture, or built by a test
that has made its own app (`Account(app.test_client(), step)`)."""


class Account:
    """The demo account in step 1, a registered one after."""

    def __init__(self, client, step, username="alice", password="correct horse battery"):
        self.client, self.step = client, step
        if step == 1:
            app = client.application
            username, password = app.config["DEMO_USERNAME"], app.config["DEMO_PASSWORD"]
        else:
            response = client.post("/register", json={"username": username, "password": password})
            assert response.status_code == 201, response.json
            self.id = response.json["id"]
        self.username, self.password = username, password

    @property
    def credentials(self):
        return {"username": self.username, "password": self.password}

    def login(self):
        response = self.client.post("/login", json=self.credentials)
        assert response.status_code == 200, response.json
        return response.json

    def bearer(self):
        return {"Authorization": f"Bearer {self.login()['access_token']}"}
