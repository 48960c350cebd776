package schemas

// The Go side of the Avro schemas in this folder. Every struct here has one
// .avsc file beside it, and the serde converts between the two; field comments
// live in the .avsc "doc" attributes so the registry carries them too.
//
// No field can hold a card number or a CVV: a payment method is a vault or
// network token plus the non-sensitive card facts routing needs (BIN, last4,
// network, funding, issuer country, expiry) and a keyed fingerprint.

// Operation is what a payment asks the PSP to do.
type Operation string

const (
	OpAuthorize Operation = "AUTHORIZE"
	OpCharge    Operation = "CHARGE"
	OpCapture   Operation = "CAPTURE"
	OpVoid      Operation = "VOID"
	OpRefund    Operation = "REFUND"
	// OpUnknown appears only on a REJECTED result whose input could not be
	// read far enough to know the operation. Requests may never carry it.
	OpUnknown Operation = "UNKNOWN"
)

// IsFollowUp reports whether the operation follows an earlier authorization
// (CAPTURE, VOID, REFUND) and so must go to the PSP that authorized it.
func (o Operation) IsFollowUp() bool { return o == OpCapture || o == OpVoid || o == OpRefund }

// Operations lists every Operation in schema symbol order.
var Operations = []Operation{OpAuthorize, OpCharge, OpCapture, OpVoid, OpRefund, OpUnknown}

// Status is the final state of a payment in a PaymentResult.
type Status string

const (
	StatusApproved       Status = "APPROVED"
	StatusDeclined       Status = "DECLINED"
	StatusFailed         Status = "FAILED"
	StatusActionRequired Status = "ACTION_REQUIRED"
	StatusRejected       Status = "REJECTED"
	StatusCancelled      Status = "CANCELLED"
	StatusInDoubt        Status = "IN_DOUBT"
)

// Statuses lists every Status in schema symbol order.
var Statuses = []Status{StatusApproved, StatusDeclined, StatusFailed, StatusActionRequired, StatusRejected, StatusCancelled, StatusInDoubt}

// Class says who failed and therefore what payroute does next
// (PRODUCT.md, Classification). The empty class means the attempt was approved.
type Class string

const (
	ClassNone           Class = ""
	ClassHardDecline    Class = "hard_decline"
	ClassSoftDecline    Class = "soft_decline"
	ClassCustomerError  Class = "customer_error"
	ClassPSPError       Class = "psp_error"
	ClassRateLimited    Class = "rate_limited"
	ClassInDoubt        Class = "in_doubt"
	ClassInvalidRequest Class = "invalid_request"
)

// Classes lists every non-empty Class.
var Classes = []Class{ClassHardDecline, ClassSoftDecline, ClassCustomerError, ClassPSPError, ClassRateLimited, ClassInDoubt, ClassInvalidRequest}

// FailsOver reports whether a failure of this class moves the payment to the
// next-ranked PSP. Only PSP-side failures do: a decline would be declined
// anywhere, a customer error is retried on the same PSP, and an in-doubt
// attempt may already have moved money.
func (c Class) FailsOver() bool { return c == ClassPSPError || c == ClassRateLimited }

// Outcome is the result of one attempt at one PSP.
type Outcome string

const (
	OutcomeApproved Outcome = "APPROVED"
	OutcomeDeclined Outcome = "DECLINED"
	OutcomeError    Outcome = "ERROR"
)

// PaymentMethod is the tokenized instrument. Token is a vault or network
// token; the rest are the card facts that are safe to store.
type PaymentMethod struct {
	Token         string `json:"token"`
	Type          string `json:"type"`           // "card", "wallet", ...
	Network       string `json:"network"`        // visa, mastercard, amex, ...
	Funding       string `json:"funding"`        // credit, debit, prepaid
	BIN           string `json:"bin"`            // first 6-8 digits
	Last4         string `json:"last4"`          // last 4 digits
	IssuerCountry string `json:"issuer_country"` // ISO 3166-1 alpha-2
	ExpiryMonth   int32  `json:"expiry_month"`
	ExpiryYear    int32  `json:"expiry_year"`
	Fingerprint   string `json:"fingerprint"` // keyed hash of the PAN, stable per card
}

// Customer is who pays.
type Customer struct {
	CustomerID string `json:"customer_id"`
	Country    string `json:"country"` // ISO 3166-1 alpha-2
}

// Candidate is one ranked PSP account: PortOne's channel_key/method_key/rank,
// Orchestra's gateway account name.
type Candidate struct {
	PSP    string `json:"psp"`
	Method string `json:"method"`
	Rank   int32  `json:"rank"`
}

// Routing is what the producer of a PaymentRequested says about routing. All
// fields are optional: without them the configured rules and default route apply.
type Routing struct {
	RouteRef         string      `json:"route_ref"`
	Candidates       []Candidate `json:"candidates"`
	ProviderOverride string      `json:"provider_override"`
}

// PaymentRequested is published by upstream services on payments.requested,
// keyed by PaymentID.
type PaymentRequested struct {
	PaymentID string `json:"payment_id"`
	// ReferencePaymentID names the authorization a CAPTURE, VOID or REFUND follows.
	ReferencePaymentID string            `json:"reference_payment_id"`
	MerchantID         string            `json:"merchant_id"`
	Operation          Operation         `json:"operation"`
	AmountMinor        int64             `json:"amount_minor"`
	Currency           string            `json:"currency"`
	PaymentMethod      PaymentMethod     `json:"payment_method"`
	Customer           Customer          `json:"customer"`
	Recurring          bool              `json:"recurring"`
	Routing            Routing           `json:"routing"`
	Metadata           map[string]string `json:"metadata"`
	RequestedAtMs      int64             `json:"requested_at_ms"`
}

// Decision is the router's answer for one payment, carried with the payment
// through every retry topic so a payment in flight keeps the route and config
// version it started with.
type Decision struct {
	ConfigVersion string      `json:"config_version"`
	RuleID        string      `json:"rule_id"`
	Candidates    []Candidate `json:"candidates"`
}

// AttemptSummary is one earlier attempt in a payment's path.
type AttemptSummary struct {
	AttemptID string  `json:"attempt_id"`
	PSP       string  `json:"psp"`
	Rank      int32   `json:"rank"`
	Outcome   Outcome `json:"outcome"`
	Class     Class   `json:"class"`
	PSPCode   string  `json:"psp_code"`
}

// AttemptFailed is the classified failure of one attempt, published on the
// retry topic of the next rank (payments.retry.rank-<NextRank>), keyed by payment_id.
type AttemptFailed struct {
	PaymentID string           `json:"payment_id"`
	Request   PaymentRequested `json:"request"`
	Decision  Decision         `json:"decision"`
	NextRank  int32            `json:"next_rank"`
	// TargetPSP is the PSP a retry rule chose (same PSP, or a named one);
	// empty means the candidate at NextRank.
	TargetPSP string `json:"target_psp"`
	// DueAtMs is when a scheduled retry becomes due; 0 means at once.
	DueAtMs int64 `json:"due_at_ms"`
	// RetryCount counts scheduled retries before this one (see the idempotency key).
	RetryCount int32            `json:"retry_count"`
	Failure    AttemptSummary   `json:"failure"`
	Path       []AttemptSummary `json:"path"` // every attempt so far, oldest first, including Failure
	Message    string           `json:"message"`
	FailedAtMs int64            `json:"failed_at_ms"`
}

// AttemptRecorded is published on payments.attempts for every attempt, whatever its outcome.
type AttemptRecorded struct {
	AttemptID      string    `json:"attempt_id"`
	PaymentID      string    `json:"payment_id"`
	MerchantID     string    `json:"merchant_id"`
	AttemptNumber  int32     `json:"attempt_number"`
	Rank           int32     `json:"rank"`
	PSP            string    `json:"psp"`
	Method         string    `json:"method"`
	PreviousPSP    string    `json:"previous_psp"` // hop from; empty on the first attempt
	Operation      Operation `json:"operation"`
	AmountMinor    int64     `json:"amount_minor"`
	Currency       string    `json:"currency"`
	Outcome        Outcome   `json:"outcome"`
	Class          Class     `json:"class"`
	PSPCode        string    `json:"psp_code"`
	IssuerCode     string    `json:"issuer_code"`
	Message        string    `json:"message"`
	PSPReference   string    `json:"psp_reference"`
	IdempotencyKey string    `json:"idempotency_key"`
	LatencyMs      int64     `json:"latency_ms"`
	FeeMinor       int64     `json:"fee_minor"`
	CardNetwork    string    `json:"card_network"`
	CardFunding    string    `json:"card_funding"`
	CardBIN        string    `json:"card_bin"`
	IssuerCountry  string    `json:"issuer_country"`
	ConfigVersion  string    `json:"config_version"`
	RuleID         string    `json:"rule_id"`
	StartedAtMs    int64     `json:"started_at_ms"`
	FinishedAtMs   int64     `json:"finished_at_ms"`
	// Inquiries and InDoubtMs describe an in-doubt episode settled (or
	// not) by status inquiries within this attempt; 0 when the PSP answered.
	Inquiries int32 `json:"inquiries"`
	InDoubtMs int64 `json:"in_doubt_ms"`
}

// PaymentResult is the one final result per payment, on payments.results keyed by payment_id.
type PaymentResult struct {
	PaymentID     string           `json:"payment_id"`
	MerchantID    string           `json:"merchant_id"`
	Operation     Operation        `json:"operation"`
	Status        Status           `json:"status"`
	AmountMinor   int64            `json:"amount_minor"`
	Currency      string           `json:"currency"`
	PSP           string           `json:"psp"` // the PSP that produced the final outcome; empty when none was attempted
	PSPReference  string           `json:"psp_reference"`
	FirstPSP      string           `json:"first_psp"`
	AttemptCount  int32            `json:"attempt_count"`
	Path          []AttemptSummary `json:"path"`
	Class         Class            `json:"class"`
	PSPCode       string           `json:"psp_code"`
	Reason        string           `json:"reason"`         // human-readable; for REJECTED, what was wrong with the input
	RetryAfterMs  int64            `json:"retry_after_ms"` // for soft declines: when a retry may succeed; 0 when none
	ConfigVersion string           `json:"config_version"`
	RuleID        string           `json:"rule_id"`
	RequestedAtMs int64            `json:"requested_at_ms"`
	CompletedAtMs int64            `json:"completed_at_ms"`
	// ActionURL is, for ACTION_REQUIRED, where the customer completes what
	// the PSP asks (a 3-D Secure challenge), from the PSP; empty when the
	// PSP gave none (a failed 3-D Secure, a wrong OTP: the merchant's page
	// offers RETRY or CANCEL).
	ActionURL string `json:"action_url,omitempty"`
}

// CustomerActionKind is what the customer chose on the intermediate page.
type CustomerActionKind string

const (
	ActionRetry  CustomerActionKind = "RETRY"
	ActionCancel CustomerActionKind = "CANCEL"
)

// CustomerAction is published on payments.actions after an ACTION_REQUIRED result.
type CustomerAction struct {
	PaymentID string             `json:"payment_id"`
	Action    CustomerActionKind `json:"action"`
	// Token optionally replaces the payment method token (a re-entered CVV or
	// OTP is bound into a fresh token by the vault; payroute never sees it).
	Token         string `json:"token"`
	RequestedAtMs int64  `json:"requested_at_ms"`
}

// HealthState is a PSP's state in the health model.
type HealthState string

const (
	HealthHealthy HealthState = "HEALTHY"
	HealthDown    HealthState = "DOWN"
	HealthProbing HealthState = "PROBING"
)

// PspHealthChanged is a state transition of one PSP in one scope, on the
// compacted psp.health topic keyed by "<psp>|<scope>".
type PspHealthChanged struct {
	PSP           string      `json:"psp"`
	Scope         string      `json:"scope"` // "*" or e.g. "currency=EUR", "network=visa"
	State         HealthState `json:"state"`
	PreviousState HealthState `json:"previous_state"`
	Reason        string      `json:"reason"`
	FailureRate   float64     `json:"failure_rate"`
	WindowCalls   int64       `json:"window_calls"`
	InstanceID    string      `json:"instance_id"`
	ChangedAtMs   int64       `json:"changed_at_ms"`
}
