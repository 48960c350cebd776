package consumers

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/payroute/payroute/schemas"
)

// handleAction applies a customer's choice on the intermediate page
// (PortOne): RETRY re-attempts the same PSP the customer error came from
// (after a request the PSP held open for the customer, a 3-D Secure
// challenge, asking the PSP about that request first), CANCEL ends the
// payment CANCELLED. An action for a payment that is not
// waiting for one is refused to the DLQ and changes nothing.
func (p *Processor) handleAction(w *work, rec *kgo.Record) {
	var a schemas.CustomerAction
	if err := p.decoder.Decode(rec.Value, &a); err != nil {
		reason := "undecodable"
		var de *schemas.DecodeError
		if errors.As(err, &de) {
			reason = de.Reason()
		}
		p.deadLetter(w, rec, reason, "", err)
		return
	}
	if string(rec.Key) != a.PaymentID {
		p.deadLetter(w, rec, "key_mismatch", "payment_id", fmt.Errorf("record key %q is not the payment_id %q", rec.Key, a.PaymentID))
		return
	}
	if schemas.ContainsPAN(a.Token) {
		p.deadLetter(w, rec, "invalid_field", "token", fmt.Errorf("token: %w", schemas.ErrCardData))
		return
	}
	st, ok := w.view.get(a.PaymentID)
	if !ok {
		p.deadLetter(w, rec, "unknown_payment", "payment_id", fmt.Errorf("no payment %q is known here", a.PaymentID))
		return
	}
	if st.Phase != PhaseActionRequired || st.Request == nil || len(st.Path) == 0 {
		p.deadLetter(w, rec, "action_not_applicable", "action",
			fmt.Errorf("payment %s is %s, not waiting for a customer action", a.PaymentID, st.Phase))
		return
	}
	switch a.Action {
	case schemas.ActionCancel:
		p.finish(w, st, schemas.StatusCancelled, nil, "cancelled by the customer")
	case schemas.ActionRetry:
		last := st.Path[len(st.Path)-1]
		method := ""
		for _, c := range st.Decision.Candidates {
			if c.Rank == last.Rank {
				method = c.Method
			}
		}
		s := step{rank: int(last.Rank), psp: last.PSP, method: method, token: a.Token}
		if st.ChallengeKey != "" && a.Token == "" {
			// The PSP asked for a challenge: the customer may have
			// completed the challenged payment itself. Ask about it before
			// sending anything (confirmChallenge).
			s.confirmKey = st.ChallengeKey
		}
		st.Phase = PhaseInFlight
		st.CustomerRetries++
		p.attempt(w, rec, st, s)
	default:
		p.deadLetter(w, rec, "invalid_field", "action", fmt.Errorf("unknown action %q", a.Action))
	}
}

// expireAction ends CANCELLED a payment that waited processor.action_timeout
// for a customer action. The time is counted from the ACTION_REQUIRED
// result (the state's last change), with the timeout in force now.
func (p *Processor) expireAction(w *work, st *PaymentState) {
	if p.cfg.ActionTimeout <= 0 || w.now.UnixMilli() < st.actionDeadlineMs(p.cfg.ActionTimeout) {
		return
	}
	p.finish(w, st, schemas.StatusCancelled, nil,
		fmt.Sprintf("no customer action within %s (processor.action_timeout)", p.cfg.ActionTimeout))
}
