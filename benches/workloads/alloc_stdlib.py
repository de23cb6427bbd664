# Standard-library parsing on generated data, keeping what it parses: email messages (the pure-
# Python feedparser), JSON documents and CSV rows.
import csv
import email
import io
import json
import sys

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 40


def messages(n):
    text = ("From: a%d@example.com\nTo: b@example.com\nSubject: report %d\n"
            "Content-Type: text/plain\n\n" + "body line of text\n" * 20)
    return [email.message_from_string(text % (i, i)) for i in range(n)]


def documents(n):
    doc = json.dumps([{"id": i, "values": list(range(20)), "name": "x" * 30} for i in range(200)])
    return [json.loads(doc) for _ in range(n)]


def rows(n):
    text = "\n".join("%d,name %d,%f,%s" % (i, i, i * 0.5, "y" * 20) for i in range(n))
    return list(csv.reader(io.StringIO(text)))


def main():
    kept = []
    for _ in range(ROUNDS):
        kept.append(messages(600))
        kept.append(documents(25))
        kept.append(rows(30000))
    return kept


main()
