#!/usr/bin/env python3
"""Capture SigV4-signed requests from the real aws CLI (botocore) as test vectors.

Runs a plain-HTTP recorder on loopback, points the real `aws` CLI at it with fixed credentials,
and writes every request it receives (method, raw path, raw query, headers in order, body) to
`cli_vectors.json`, with the secret it was signed with and the CLI version. The EKS token printed
by `aws eks get-token` is decoded into the presigned GET it stands for, with the `x-k8s-aws-id`
header the verifier must supply.

Rerun: python3 capture_cli_vectors.py  (needs `aws` on PATH; sends nothing off this machine)
"""
import base64, json, os, subprocess, threading, http.server, urllib.parse

ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SESSION_KEY = "ASIAIOSFODNN7EXAMPLE"
SESSION_SECRET = "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE+token/with=padding"

captured = []


class Recorder(http.server.BaseHTTPRequestHandler):
    def _record(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        captured.append({
            "method": self.command,
            "path": path,
            "query": query,
            "headers": [[k, v] for k, v in self.headers.items()],
            "body": body.decode("utf-8"),
        })
        payload = b"<ErrorResponse><Error><Type>Sender</Type><Code>Recorded</Code><Message>recorded</Message></Error></ErrorResponse>"
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_DELETE = do_PUT = _record

    def log_message(self, *args):
        pass


def main():
    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_port}"
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base_env.update({"AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": "us-east-1", "AWS_MAX_ATTEMPTS": "1",
                     "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"})
    long_term = dict(base_env, AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET)
    temporary = dict(base_env, AWS_ACCESS_KEY_ID=SESSION_KEY, AWS_SECRET_ACCESS_KEY=SESSION_SECRET,
                     AWS_SESSION_TOKEN=SESSION_TOKEN)
    vectors = []

    def run(name, env, args, secret, session_token=None):
        before = len(captured)
        subprocess.run(["aws", *args], env=env, capture_output=True)
        for request in captured[before:]:
            vectors.append({"name": name, "secret": secret, "session_token": session_token, "presigned": False,
                            "request": request})

    run("sts get-caller-identity", long_term, ["sts", "get-caller-identity"], SECRET)
    run("sts get-caller-identity with a session token", temporary, ["sts", "get-caller-identity"], SESSION_SECRET,
        SESSION_TOKEN)
    run("iam create-user with a path and tags", long_term,
        ["iam", "create-user", "--user-name", "alice", "--path", "/dev/team a/",
         "--tags", "Key=team,Value=a b+c", "Key=cost~center,Value=x/y=z"], SECRET)
    run("iam put-user-policy with a JSON document", long_term,
        ["iam", "put-user-policy", "--user-name", "alice", "--policy-name", "p",
         "--policy-document", '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'],
        SECRET)
    run("iam list-users in eu-west-1", dict(long_term, AWS_DEFAULT_REGION="eu-west-1"), ["iam", "list-users"], SECRET)
    run("eks describe-access-entry (double-encoded path)", long_term,
        ["eks", "describe-access-entry", "--cluster-name", "demo",
         "--principal-arn", "arn:aws:iam::123456789012:role/dev/Admin"], SECRET)
    run("eks list-access-entries (query string)", long_term,
        ["eks", "list-access-entries", "--cluster-name", "demo", "--max-results", "5"], SECRET)

    for name, env, secret, token in [("eks get-token", long_term, SECRET, None),
                                     ("eks get-token with a session token", temporary, SESSION_SECRET, SESSION_TOKEN)]:
        out = subprocess.run(["aws", "eks", "get-token", "--cluster-name", "demo", "--output", "json"], env=env,
                             capture_output=True, text=True, check=True)
        encoded = json.loads(out.stdout)["status"]["token"][len("k8s-aws-v1."):]
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        parts = urllib.parse.urlsplit(url)
        vectors.append({"name": name, "secret": secret, "session_token": token, "presigned": True, "request": {
            "method": "GET", "path": parts.path, "query": parts.query,
            "headers": [["host", parts.netloc], ["x-k8s-aws-id", "demo"]], "body": ""}})

    version = subprocess.run(["aws", "--version"], capture_output=True, text=True).stdout.strip()
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "cli_vectors.json"), "w") as f:
        json.dump({"client": version, "access_key_id": ACCESS_KEY, "session_access_key_id": SESSION_KEY,
                   "vectors": vectors}, f, indent=1)
    server.shutdown()


if __name__ == "__main__":
    main()
