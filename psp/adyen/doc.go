// Package adyen is the Adyen connector: payroute's operations on Adyen's
// Checkout API (v71), and the tables that classify Adyen's answers.
//
// Importing the package registers the account kind "adyen":
//
//	psps:
//	  accounts:
//	    adyen-eu:
//	      kind: adyen
//	      merchant_account: PayrouteECOM
//	      api_key_env: ADYEN_API_KEY          # or api_key_file: /run/secrets/adyen
//	      # test: https://checkout-test.adyen.com/v71 (the default)
//	      # live: https://{PREFIX}-checkout-live.adyenpayments.com/checkout/v71
//	      endpoint: https://checkout-test.adyen.com/v71
//
// # Operations
//
//	AUTHORIZE  POST {endpoint}/payments
//	           {"amount": {"currency", "value"}, "reference": <payment id>,
//	            "merchantAccount", "paymentMethod": {"type": "scheme",
//	            "storedPaymentMethodId": <token>}, "shopperReference": <customer id>,
//	            "shopperInteraction": "ContAuth", "recurringProcessingModel": "CardOnFile",
//	            "additionalData": {"manualCapture": "true"}}
//	CHARGE     the same with "captureDelayHours": 0 instead of manualCapture
//	CAPTURE    POST {endpoint}/payments/{ref}/captures  {"merchantAccount", "amount", "reference"}
//	VOID       POST {endpoint}/payments/{ref}/cancels   {"merchantAccount", "reference"}
//	REFUND     POST {endpoint}/payments/{ref}/refunds   {"merchantAccount", "amount", "reference"}
//
// The token is an Adyen stored payment method id (a card tokenized at
// Adyen, which belongs to the shopper named by shopperReference: the
// payment's customer id). {ref} is the pspReference of the authorization.
// Modifications are asynchronous at Adyen: their 201 "received" is Adyen
// accepting the request, and is reported as approved; the final result
// arrives as a webhook, outside the attempt.
//
// Every request carries the X-API-Key header and an Idempotency-Key header
// with the payment's key (at most 64 characters at Adyen; payroute's keys
// are 35). Adyen returns the first answer for a key it processed, and
// answers a duplicate that arrives while the first is still being processed
// with errorCode 704 ("request already processed or in progress"), which is
// in_doubt.
//
// # Re-sends and doubt
//
// As for Stripe: net/http may re-send an Idempotency-Key request after a
// reused connection broke; psp.Send counts the copies and
// psp.Reply.InDoubtIfResent makes a non-definitive answer to a re-sent
// request in_doubt. A timeout or broken connection after sending is
// in_doubt. Status re-sends the request under the same key (the Checkout API
// has no lookup of a payment by idempotency key): Adyen answers with the
// stored result, or processes a request it never received; Pending,
// Received, 704 and errors leave the attempt in doubt.
//
// # Classification
//
// A /payments answer (HTTP 200) is classified by resultCode (ResultCodes):
// Authorised is approved; Pending and Received are in_doubt; the shopper
// actions (RedirectShopper, ChallengeShopper, ...) customer_error; Error is
// psp_error unless its refusal reason says otherwise; Refused and
// Cancelled by the first of: the Mastercard merchant advice code
// (additionalData.merchantAdviceCode, psp.AdviceCodes, on Mastercard cards),
// the refusalReasonCode or refusalReason (RefusalReasons), the issuer's ISO
// 8583 code at the start of additionalData.refusalReasonRaw
// (psp.IssuerCodes); else psp.UnknownCodeClass, which never fails over.
//
// An error answer (Adyen's ServiceError: status, errorCode, message,
// errorType) by its errorCode (ErrorCodes), else its errorType
// (ErrorTypes: validation is invalid_request; security, configuration and
// internal are psp_error), else the HTTP status: 401 and 403 psp_error, 429
// rate_limited, 5xx psp_error, 404 psp_error (a wrong endpoint), other 4xx
// invalid_request.
//
// Texts Adyen sends back pass through the API key's Redact before they
// reach an Outcome or a log.
package adyen
