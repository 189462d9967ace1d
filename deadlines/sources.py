"""The sources each rule cites, as the short labels a ``Step`` carries.

The full references, for a reader who wants to check them:

- GDPR: Regulation (EU) 2016/679, Art. 12(3) (one month from receipt; two further
  months where necessary, the data subject told within the first month).
- UK GDPR: the same Art. 12(3), with Art. 12A as inserted by the Data (Use and
  Access) Act 2025 (the period runs from the latest of receipt, identity confirmed
  and fee paid; the days spent waiting for information the controller asked for
  do not count).
- ICO: the Information Commissioner's Office guidance on the right of access,
  "How long do we have to comply?" / time limits for responding (count from the
  day of receipt to the corresponding date of the next month, or the month's last
  day; a weekend or bank holiday moves it to the next working day; an extension
  is three months from the original start).
- EDPB 01/2022: European Data Protection Board, Guidelines 01/2022 on data
  subject rights, right of access (section 5.3 on timing; identity and
  clarification requests).
- EDPB 07/2020: Guidelines 07/2020 on the concepts of controller and processor,
  §129 (Chapter III deadlines cannot be extended because a processor must
  provide the information).
- Regulation (EEC, Euratom) No 1182/71 determining the rules applicable to
  periods, dates and time limits, Art. 3(4) (a period whose last day is a public
  holiday, Saturday or Sunday ends at the end of the following working day).
"""

from __future__ import annotations

GDPR_ONE_MONTH = "GDPR Art. 12(3)"
GDPR_EXTENSION = "GDPR Art. 12(3)"
UK_ONE_MONTH = "UK GDPR Art. 12(3), 12A; ICO"
UK_EXTENSION = "UK GDPR Art. 12A; ICO"
UK_CLOCK_START = "UK GDPR Art. 12A"
UK_STOPPED_CLOCK = "UK GDPR Art. 12A"
EU_STOPPED_CLOCK = "EDPB Guidelines 01/2022"
UK_NEXT_WORKING_DAY = "ICO"
EU_NEXT_WORKING_DAY = "Reg. (EEC, Euratom) 1182/71 Art. 3(4)"
