"""Raw RFC 822 mails shaped like what real clients send (Gmail web, Outlook, Apple Mail,
autoresponders, mailer daemons), as bytes, for the fake Gmail mailbox."""

from __future__ import annotations

import base64

CUSTOMER = "ana.silva@example.com"
SUPPORT = "support@flowboard.example"


def _crlf(text: str) -> bytes:
    return text.strip("\n").replace("\n", "\r\n").encode() + b"\r\n"


def gmail_reply_alternative(message_id: str = "<CAF=abc123@mail.gmail.com>") -> bytes:
    """Gmail web: multipart/alternative, the quoted history in both parts."""
    return _crlf(f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 10:15:00 +0000
References: <first@flowboard.example> <second@flowboard.example>
In-Reply-To: <second@flowboard.example>
Message-ID: {message_id}
Subject: Re: Board disappeared
From: Ana Silva <{CUSTOMER}>
To: Flowboard Support <{SUPPORT}>
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"

--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"

I checked the Trash and it is not there.
Can you look again?

On Sun, 2 Mar 2025 at 18:02, Flowboard Support <{SUPPORT}> wrote:

> Archived boards can be restored from the board menu.
> Deleted boards stay in the Trash for 30 days.

--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">I checked the Trash and it is not there.<div>Can you look again?</div></div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Sun, 2 Mar 2025 at 18:02, Flowboard Support &lt;{SUPPORT}&gt; wrote:<br></div><blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex">Archived boards can be restored from the board menu.</blockquote></div>

--000000000000a1b2c3--
""")


def alternative_parts_differ() -> bytes:
    """multipart/alternative whose HTML part is not the plain part's twin (a mail tool added a
    banner and tracking text to the HTML only): the plain part is what the customer wrote."""
    return _crlf(f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 11:00:00 +0000
Message-ID: <differ-1@mail.example.com>
Subject: Invoice seats
From: Ana Silva <{CUSTOMER}>
To: Flowboard Support <{SUPPORT}>
Content-Type: multipart/alternative; boundary="b-differ"

--b-differ
Content-Type: text/plain; charset="UTF-8"

The invoice for March charges 12 seats, we have 10.

--b-differ
Content-Type: text/html; charset="UTF-8"

<html><body><p><a href="https://t.example.com/x">View in browser</a></p><p>Our newsletter: spring offers inside!</p><p>The invoice for March charges 12 seats.</p></body></html>

--b-differ--
""")


def html_only_french_quote() -> bytes:
    """HTML only (some mobile clients), a French attribution inside Gmail's quote div."""
    return _crlf(f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 11:00:00 +0100
Message-ID: <html-only-1@example.com>
Subject: Automations paused
From: "Ana Silva" <{CUSTOMER}>
To: {SUPPORT}
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<html><body><p>My automations stopped running this morning &amp; nothing happe=
ns.</p><p>Is the quota reached?</p><div class=3D"gmail_quote"><div class=3D"gm=
ail_attr">Le dim. 2 mars 2025 =C3=A0 18:02, Support a =C3=A9crit&nbsp;:</div><b=
lockquote>Old text</blockquote></div></body></html>
""")


def latin1_outlook() -> bytes:
    """Outlook: iso-8859-1 quoted-printable (with a cp1252 euro sign, as Outlook really does),
    an encoded-word subject and the "-----Original Message-----" tail."""
    return _crlf(f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 12:00:00 +0000
Message-ID: <DB9PR01MB1234@eurprd01.prod.outlook.com>
Subject: =?iso-8859-1?Q?Fatura_n=E3o_recebida?=
From: =?iso-8859-1?Q?Jo=E3o_Ara=FAjo?= <joao@example.pt>
To: <{SUPPORT}>
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Ol=E1, n=E3o recebi a fatura de 49 =80 deste m=EAs.

Obrigado,
Jo=E3o

-----Original Message-----
From: Flowboard Support <{SUPPORT}>
Sent: Sunday, March 2, 2025 6:02 PM
Subject: Invoice

Old text
""")


def base64_utf8_with_attachment() -> bytes:
    """Apple Mail: multipart/mixed, a base64 UTF-8 text part and a PDF attachment."""
    text = base64.encodebytes(
        "Bonjour 👋 — the export fails with error 500.\n\nSent from my iPhone\n".encode()
    ).decode()
    pdf = base64.encodebytes(b"%PDF-1.4 fake").decode()
    return _crlf(f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 13:00:00 +0000
Message-ID: <8F2A-APPLE@example.com>
Subject: =?utf-8?B?RXhwb3J0IOKAlCBlcnJvcg==?=
From: Marie <marie@example.fr>
To: {SUPPORT}
Content-Type: multipart/mixed; boundary="Apple-Mail=_1"

--Apple-Mail=_1
Content-Transfer-Encoding: base64
Content-Type: text/plain; charset=utf-8

{text}
--Apple-Mail=_1
Content-Disposition: attachment; filename=screenshot.pdf
Content-Type: application/pdf; name="screenshot.pdf"
Content-Transfer-Encoding: base64

{pdf}
--Apple-Mail=_1--
""")


def plain(sender: str, subject: str, body: str, message_id: str, *extra_headers: str) -> bytes:
    headers = "\n".join(extra_headers)
    return _crlf(
        f"""
MIME-Version: 1.0
Date: Mon, 3 Mar 2025 14:00:00 +0000
Message-ID: {message_id}
Subject: {subject}
From: {sender}
To: {SUPPORT}
{headers}
Content-Type: text/plain; charset="UTF-8"

{body}
""".replace("\n\n\n", "\n\n")
    )


def out_of_office() -> bytes:
    return plain(
        f"Ana Silva <{CUSTOMER}>",
        "Automatic reply: Re: Board",
        "I am out of the office.",
        "<ooo-1@example.com>",
        "Auto-Submitted: auto-replied",
    )


def newsletter() -> bytes:
    return plain(
        "News <news@vendor.example>",
        "Our March news",
        "Read all about it.",
        "<news-1@vendor.example>",
        "Precedence: bulk",
    )


def x_autoreply() -> bytes:
    return plain(
        "Bot <bot@example.net>",
        "Re: Board",
        "Thanks, we got your mail.",
        "<bot-1@example.net>",
        "X-Autoreply: yes",
    )


def from_support_itself() -> bytes:
    return plain(
        f"Flowboard Support <{SUPPORT}>",
        "Re: Board",
        "Sent from another client.",
        "<own-1@flowboard.example>",
    )


def bounce() -> bytes:
    return _crlf(f"""
MIME-Version: 1.0
Message-ID: <bounce-1@mail.example.com>
Subject: Delivery Status Notification (Failure)
From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: {SUPPORT}
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain; charset="UTF-8"

Address not found.
--b1--
""")


def gmail_authentication_results(dmarc: str, header_from: str = "example.com",
                                 authserv_id: str = "mx.google.com") -> str:
    """The header Gmail's MX prepends to a delivered mail, folded the way Gmail folds it."""
    return (
        f"Authentication-Results: {authserv_id};\n"
        f"       dkim=pass header.i=@{header_from} header.s=s1 header.b=Xy12abCD;\n"
        f"       spf=pass (google.com: domain of ana.silva@{header_from} designates 209.85.220.41 as"
        f" permitted sender) smtp.mailfrom=ana.silva@{header_from};\n"
        f"       dmarc={dmarc} (p=REJECT sp=REJECT dis=NONE) header.from={header_from}"
    )


def authenticated(message_id: str, *authentication_results: str) -> bytes:
    """A customer mail with the given Authentication-Results headers, topmost first (Gmail
    prepends its own, so whatever the sender wrote into the mail comes after it)."""
    return plain(
        f"Ana Silva <{CUSTOMER}>", "Where is my invoice?",
        "Hello, I cannot find the invoice for March. Where can I download it?",
        message_id, *authentication_results,
    )
