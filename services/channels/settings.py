"""Channel configuration (environment). Secrets come only from here.

One class for the edge (webhooks), the dispatcher (senders) and the Gmail ingest, so the three
agree on URLs and credentials. Env names are the field names upper-cased (TWILIO_AUTH_TOKEN,
GMAIL_SUPPORT_ADDRESS, ...), matching the vendors' own conventions where they have one.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GOOGLE_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"


class ChannelSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", case_sensitive=False)

    whatsapp_enabled: bool = False
    gmail_enabled: bool = False

    # The externally visible URL prefix that Twilio and Pub/Sub were configured with
    # (e.g. https://support.flowboard.example). Twilio signs the URL it called, which behind a
    # proxy is not the URL this process sees, so signatures are checked against this.
    public_base_url: str = ""

    # --- WhatsApp through Twilio
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr = SecretStr("")
    # The WhatsApp-enabled sender, `whatsapp:+14155238886` (the prefix is added when missing).
    twilio_whatsapp_from: str = ""
    twilio_api_base_url: str = "https://api.twilio.com"
    twilio_timeout_s: float = 10.0
    whatsapp_max_chars: int = 300
    # WhatsApp only allows free-form messages this long after the customer last wrote.
    whatsapp_service_window_h: float = 24.0

    # --- Gmail
    gmail_support_address: str = ""
    # Other addresses of ours (aliases, send-as): mail from them is never a customer's.
    gmail_own_aliases: list[str] = Field(default_factory=list)
    gmail_user_id: str = "me"
    gmail_api_base_url: str = "https://gmail.googleapis.com/"
    gmail_timeout_s: float = 15.0
    # Credentials, first match wins: a service account with domain-wide delegation
    # (impersonating gmail_support_address), else an OAuth refresh token of that mailbox.
    gmail_service_account_file: str = ""
    gmail_oauth_client_id: str = ""
    gmail_oauth_client_secret: SecretStr = SecretStr("")
    gmail_oauth_refresh_token: SecretStr = SecretStr("")
    google_token_uri: str = GOOGLE_TOKEN_URI
    # When the stored historyId is missing or expired, re-read at most this much mail.
    gmail_resync_query: str = "in:inbox newer_than:1d"
    gmail_resync_max_messages: int = 50
    gmail_ingest_group: str = "fte-gmail-ingest"
    # Attempts (each with its own retries, all reaching Gmail) at fetching one mail before it is
    # dead-lettered, so one mail Gmail keeps failing on cannot hold up the mailbox for good.
    gmail_message_max_attempts: int = Field(default=5, ge=1)
    # The Pub/Sub topic Gmail publishes mailbox changes to (projects/<p>/topics/<t>). When set,
    # the ingest calls users.watch at start and daily: a watch expires after 7 days.
    gmail_pubsub_topic: str = ""
    gmail_watch_renew_s: float = 24 * 3600.0

    # --- Pub/Sub push authentication (Gmail notifications)
    # The audience set on the push subscription's OIDC token (usually the push endpoint URL).
    pubsub_audience: str = ""
    # Optional: the service account the subscription pushes as; other signers are refused.
    pubsub_service_account_email: str = ""
    # Optional shared secret in the push URL (?token=...), for subscriptions without OIDC.
    pubsub_verification_token: SecretStr = SecretStr("")
    google_certs_url: str = GOOGLE_CERTS_URL

    # --- Resilience, per channel
    channel_retry_attempts: int = Field(default=3, ge=1)
    channel_retry_initial_s: float = 0.5
    channel_retry_max_s: float = 8.0
    # Consecutive failed calls (each after its retries) that open a channel's circuit.
    breaker_failure_threshold: int = Field(default=3, ge=1)
    # How long an open circuit refuses calls before letting one trial through.
    breaker_reset_s: float = 30.0

    @field_validator("public_base_url", "twilio_api_base_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("twilio_whatsapp_from")
    @classmethod
    def _whatsapp_prefix(cls, value: str) -> str:
        value = value.strip()
        return value if not value or value.startswith("whatsapp:") else f"whatsapp:{value}"

    @field_validator("gmail_support_address")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().lower()

    @model_validator(mode="after")
    def _enabled_channels_are_configured(self) -> ChannelSettings:
        # Fail at start-up with the missing names, not at the first customer message.
        missing: list[str] = []
        if self.whatsapp_enabled:
            for name in ("public_base_url", "twilio_account_sid", "twilio_whatsapp_from"):
                if not getattr(self, name):
                    missing.append(name)
            if not self.twilio_auth_token.get_secret_value():
                missing.append("twilio_auth_token")
        if self.gmail_enabled:
            if not self.gmail_support_address:
                missing.append("gmail_support_address")
            if not (self.pubsub_audience or self.pubsub_verification_token.get_secret_value()):
                missing.append("pubsub_audience or pubsub_verification_token")
        if missing:
            raise ValueError("enabled channel is missing settings: " + ", ".join(missing))
        return self

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(
            a.strip().lower() for a in [self.gmail_support_address, *self.gmail_own_aliases] if a
        )
