import datetime

from fte.access.v1 import access_service_pb2 as _access_service_pb2
from fte.common.v1 import channel_pb2 as _channel_pb2
from fte.common.v1 import sender_assurance_pb2 as _sender_assurance_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class IdentifierType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IDENTIFIER_TYPE_UNSPECIFIED: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_EMAIL: _ClassVar[IdentifierType]
    IDENTIFIER_TYPE_PHONE: _ClassVar[IdentifierType]

class CustomerView(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CUSTOMER_VIEW_UNSPECIFIED: _ClassVar[CustomerView]
    CUSTOMER_VIEW_BASIC: _ClassVar[CustomerView]
    CUSTOMER_VIEW_FULL: _ClassVar[CustomerView]

class LinkOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LINK_OUTCOME_UNSPECIFIED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_LINKED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_MERGED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_ALREADY_LINKED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_WRONG_CODE: _ClassVar[LinkOutcome]
    LINK_OUTCOME_EXPIRED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_EXHAUSTED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_USED: _ClassVar[LinkOutcome]
    LINK_OUTCOME_NO_PENDING_LINK: _ClassVar[LinkOutcome]
IDENTIFIER_TYPE_UNSPECIFIED: IdentifierType
IDENTIFIER_TYPE_EMAIL: IdentifierType
IDENTIFIER_TYPE_PHONE: IdentifierType
CUSTOMER_VIEW_UNSPECIFIED: CustomerView
CUSTOMER_VIEW_BASIC: CustomerView
CUSTOMER_VIEW_FULL: CustomerView
LINK_OUTCOME_UNSPECIFIED: LinkOutcome
LINK_OUTCOME_LINKED: LinkOutcome
LINK_OUTCOME_MERGED: LinkOutcome
LINK_OUTCOME_ALREADY_LINKED: LinkOutcome
LINK_OUTCOME_WRONG_CODE: LinkOutcome
LINK_OUTCOME_EXPIRED: LinkOutcome
LINK_OUTCOME_EXHAUSTED: LinkOutcome
LINK_OUTCOME_USED: LinkOutcome
LINK_OUTCOME_NO_PENDING_LINK: LinkOutcome

class Identifier(_message.Message):
    __slots__ = ("type", "value", "first_seen_channel", "create_time")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    type: IdentifierType
    value: str
    first_seen_channel: _channel_pb2.Channel
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, type: _Optional[_Union[IdentifierType, str]] = ..., value: _Optional[str] = ..., first_seen_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerName(_message.Message):
    __slots__ = ("channel", "name", "last_seen_time")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_TIME_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    name: str
    last_seen_time: _timestamp_pb2.Timestamp
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., name: _Optional[str] = ..., last_seen_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CustomerConversation(_message.Message):
    __slots__ = ("conversation_id", "status", "initial_channel", "start_time", "last_message_time")
    CONVERSATION_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_MESSAGE_TIME_FIELD_NUMBER: _ClassVar[int]
    conversation_id: str
    status: str
    initial_channel: _channel_pb2.Channel
    start_time: _timestamp_pb2.Timestamp
    last_message_time: _timestamp_pb2.Timestamp
    def __init__(self, conversation_id: _Optional[str] = ..., status: _Optional[str] = ..., initial_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_message_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Customer(_message.Message):
    __slots__ = ("customer_id", "display_name", "identifiers", "names", "conversations", "merged_into_customer_id", "create_time", "update_time", "erase_time")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    NAMES_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_FIELD_NUMBER: _ClassVar[int]
    MERGED_INTO_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    display_name: str
    identifiers: _containers.RepeatedCompositeFieldContainer[Identifier]
    names: _containers.RepeatedCompositeFieldContainer[CustomerName]
    conversations: _containers.RepeatedCompositeFieldContainer[CustomerConversation]
    merged_into_customer_id: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    erase_time: _timestamp_pb2.Timestamp
    def __init__(self, customer_id: _Optional[str] = ..., display_name: _Optional[str] = ..., identifiers: _Optional[_Iterable[_Union[Identifier, _Mapping]]] = ..., names: _Optional[_Iterable[_Union[CustomerName, _Mapping]]] = ..., conversations: _Optional[_Iterable[_Union[CustomerConversation, _Mapping]]] = ..., merged_into_customer_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ResolveCustomerRequest(_message.Message):
    __slots__ = ("channel", "email", "phone", "whatsapp", "display_name", "default_region", "assurance")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    WHATSAPP_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    channel: _channel_pb2.Channel
    email: str
    phone: str
    whatsapp: str
    display_name: str
    default_region: str
    assurance: _sender_assurance_pb2.SenderAssurance
    def __init__(self, channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., whatsapp: _Optional[str] = ..., display_name: _Optional[str] = ..., default_region: _Optional[str] = ..., assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ...) -> None: ...

class ResolveCustomerResponse(_message.Message):
    __slots__ = ("customer", "created", "linked_identifiers")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    LINKED_IDENTIFIERS_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    created: bool
    linked_identifiers: _containers.RepeatedCompositeFieldContainer[Identifier]
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., created: _Optional[bool] = ..., linked_identifiers: _Optional[_Iterable[_Union[Identifier, _Mapping]]] = ...) -> None: ...

class LinkIdentifierRequest(_message.Message):
    __slots__ = ("customer_id", "type", "value", "channel", "default_region")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    type: IdentifierType
    value: str
    channel: _channel_pb2.Channel
    default_region: str
    def __init__(self, customer_id: _Optional[str] = ..., type: _Optional[_Union[IdentifierType, str]] = ..., value: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., default_region: _Optional[str] = ...) -> None: ...

class LinkIdentifierResponse(_message.Message):
    __slots__ = ("customer", "already_linked")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    ALREADY_LINKED_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    already_linked: bool
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., already_linked: _Optional[bool] = ...) -> None: ...

class MergeCustomersRequest(_message.Message):
    __slots__ = ("source_customer_id", "target_customer_id", "requested_by", "reason")
    SOURCE_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    TARGET_CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    source_customer_id: str
    target_customer_id: str
    requested_by: str
    reason: str
    def __init__(self, source_customer_id: _Optional[str] = ..., target_customer_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class MergeCustomersResponse(_message.Message):
    __slots__ = ("customer", "merge_id", "identifiers_moved", "conversations_moved")
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    MERGE_ID_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_MOVED_FIELD_NUMBER: _ClassVar[int]
    CONVERSATIONS_MOVED_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    merge_id: str
    identifiers_moved: int
    conversations_moved: int
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ..., merge_id: _Optional[str] = ..., identifiers_moved: _Optional[int] = ..., conversations_moved: _Optional[int] = ...) -> None: ...

class GetCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "view")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    VIEW_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    view: CustomerView
    def __init__(self, customer_id: _Optional[str] = ..., view: _Optional[_Union[CustomerView, str]] = ...) -> None: ...

class GetCustomerResponse(_message.Message):
    __slots__ = ("customer",)
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ...) -> None: ...

class LookupCustomerRequest(_message.Message):
    __slots__ = ("email", "phone", "default_region")
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    email: str
    phone: str
    default_region: str
    def __init__(self, email: _Optional[str] = ..., phone: _Optional[str] = ..., default_region: _Optional[str] = ...) -> None: ...

class LookupCustomerResponse(_message.Message):
    __slots__ = ("customer",)
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    customer: Customer
    def __init__(self, customer: _Optional[_Union[Customer, _Mapping]] = ...) -> None: ...

class EraseCustomerRequest(_message.Message):
    __slots__ = ("customer_id", "requested_by")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    requested_by: str
    def __init__(self, customer_id: _Optional[str] = ..., requested_by: _Optional[str] = ...) -> None: ...

class EraseCustomerResponse(_message.Message):
    __slots__ = ("erased_customer_ids", "erase_time", "already_erased", "identifiers_erased", "names_erased", "messages_erased", "audit_event_id")
    ERASED_CUSTOMER_IDS_FIELD_NUMBER: _ClassVar[int]
    ERASE_TIME_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ERASED_FIELD_NUMBER: _ClassVar[int]
    IDENTIFIERS_ERASED_FIELD_NUMBER: _ClassVar[int]
    NAMES_ERASED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_ERASED_FIELD_NUMBER: _ClassVar[int]
    AUDIT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    erased_customer_ids: _containers.RepeatedScalarFieldContainer[str]
    erase_time: _timestamp_pb2.Timestamp
    already_erased: bool
    identifiers_erased: int
    names_erased: int
    messages_erased: int
    audit_event_id: str
    def __init__(self, erased_customer_ids: _Optional[_Iterable[str]] = ..., erase_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., already_erased: _Optional[bool] = ..., identifiers_erased: _Optional[int] = ..., names_erased: _Optional[int] = ..., messages_erased: _Optional[int] = ..., audit_event_id: _Optional[str] = ...) -> None: ...

class StartLinkRequest(_message.Message):
    __slots__ = ("customer_id", "channel", "assurance", "claimed_email", "claimed_phone", "default_region", "display_name", "request_key")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_EMAIL_FIELD_NUMBER: _ClassVar[int]
    CLAIMED_PHONE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REGION_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_KEY_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channel: _channel_pb2.Channel
    assurance: _sender_assurance_pb2.SenderAssurance
    claimed_email: str
    claimed_phone: str
    default_region: str
    display_name: str
    request_key: str
    def __init__(self, customer_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., claimed_email: _Optional[str] = ..., claimed_phone: _Optional[str] = ..., default_region: _Optional[str] = ..., display_name: _Optional[str] = ..., request_key: _Optional[str] = ...) -> None: ...

class StartLinkResponse(_message.Message):
    __slots__ = ("link_id", "delivery_channel", "masked_address", "expire_time", "attempts_left", "already_linked", "too_many_requests")
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_CHANNEL_FIELD_NUMBER: _ClassVar[int]
    MASKED_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_LINKED_FIELD_NUMBER: _ClassVar[int]
    TOO_MANY_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    link_id: str
    delivery_channel: _channel_pb2.Channel
    masked_address: str
    expire_time: _timestamp_pb2.Timestamp
    attempts_left: int
    already_linked: bool
    too_many_requests: bool
    def __init__(self, link_id: _Optional[str] = ..., delivery_channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., masked_address: _Optional[str] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts_left: _Optional[int] = ..., already_linked: _Optional[bool] = ..., too_many_requests: _Optional[bool] = ...) -> None: ...

class ConfirmLinkRequest(_message.Message):
    __slots__ = ("customer_id", "channel", "assurance", "code")
    CUSTOMER_ID_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ASSURANCE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    customer_id: str
    channel: _channel_pb2.Channel
    assurance: _sender_assurance_pb2.SenderAssurance
    code: str
    def __init__(self, customer_id: _Optional[str] = ..., channel: _Optional[_Union[_channel_pb2.Channel, str]] = ..., assurance: _Optional[_Union[_sender_assurance_pb2.SenderAssurance, str]] = ..., code: _Optional[str] = ...) -> None: ...

class ConfirmLinkResponse(_message.Message):
    __slots__ = ("outcome", "attempts_left", "customer", "merge_id", "masked_address", "link_id")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_LEFT_FIELD_NUMBER: _ClassVar[int]
    CUSTOMER_FIELD_NUMBER: _ClassVar[int]
    MERGE_ID_FIELD_NUMBER: _ClassVar[int]
    MASKED_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LINK_ID_FIELD_NUMBER: _ClassVar[int]
    outcome: LinkOutcome
    attempts_left: int
    customer: Customer
    merge_id: str
    masked_address: str
    link_id: str
    def __init__(self, outcome: _Optional[_Union[LinkOutcome, str]] = ..., attempts_left: _Optional[int] = ..., customer: _Optional[_Union[Customer, _Mapping]] = ..., merge_id: _Optional[str] = ..., masked_address: _Optional[str] = ..., link_id: _Optional[str] = ...) -> None: ...
