"""The built-in recognizers, one module per information type.

`RECOGNIZERS` is the order the registry registers them in; nothing here is
discovered by import side effects.
"""

from __future__ import annotations

from gateway.detect.recognizer import Recognizer
from gateway.detect.recognizers.bank_account import BankAccountRecognizer
from gateway.detect.recognizers.date_of_birth import DateOfBirthRecognizer
from gateway.detect.recognizers.driving_licence import DrivingLicenceRecognizer
from gateway.detect.recognizers.email_address import EmailAddressRecognizer
from gateway.detect.recognizers.national_insurance import NationalInsuranceRecognizer
from gateway.detect.recognizers.nhs_number import NhsNumberRecognizer
from gateway.detect.recognizers.passport import PassportRecognizer
from gateway.detect.recognizers.payment_card import PaymentCardRecognizer
from gateway.detect.recognizers.person_name import PersonNameRecognizer
from gateway.detect.recognizers.phone_number import PhoneNumberRecognizer
from gateway.detect.recognizers.postcode import PostcodeRecognizer
from gateway.detect.recognizers.pupil_number import PupilNumberRecognizer
from gateway.detect.recognizers.special_category import SpecialCategoryRecognizer

__all__ = [
    "RECOGNIZERS",
    "BankAccountRecognizer",
    "DateOfBirthRecognizer",
    "DrivingLicenceRecognizer",
    "EmailAddressRecognizer",
    "NationalInsuranceRecognizer",
    "NhsNumberRecognizer",
    "PassportRecognizer",
    "PaymentCardRecognizer",
    "PersonNameRecognizer",
    "PhoneNumberRecognizer",
    "PostcodeRecognizer",
    "PupilNumberRecognizer",
    "SpecialCategoryRecognizer",
]

RECOGNIZERS: tuple[type[Recognizer], ...] = (
    NhsNumberRecognizer,
    NationalInsuranceRecognizer,
    PupilNumberRecognizer,
    DateOfBirthRecognizer,
    PostcodeRecognizer,
    PhoneNumberRecognizer,
    EmailAddressRecognizer,
    BankAccountRecognizer,
    PaymentCardRecognizer,
    PassportRecognizer,
    DrivingLicenceRecognizer,
    PersonNameRecognizer,
    SpecialCategoryRecognizer,
)
