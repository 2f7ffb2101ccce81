package finicity

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/hookline/hookline/adapters"
	hooklinev1 "github.com/hookline/hookline/gen/hookline/v1"
)

// payload holds the Connect payload fields the adapter copies. Every field is
// optional; unknown fields are ignored.
type payload struct {
	InstitutionID adapters.FlexString `json:"institutionId"`
	OAuth         adapters.FlexBool   `json:"oauth"`
	MFA           adapters.FlexBool   `json:"mfa"`
	// Query is the search text of institutionNotFound.
	Query adapters.FlexString `json:"query"`
	// Code is the failure code of unableToConnect (a number on the wire).
	Code adapters.FlexString `json:"code"`
	// Accounts is an array of account objects (discovered, added) or of
	// account ids (accountsDeleted).
	Accounts json.RawMessage `json:"accounts"`

	accounts   []*hooklinev1.Account
	accountIDs []string
}

// decodePayload decodes a Connect payload. A payload that is absent, null or
// not an object (done may carry an array with one entry per report) yields no
// fields. An error means a known field has a shape the adapter cannot map;
// its text names the field, never a value.
func decodePayload(raw json.RawMessage) (payload, error) {
	var p payload
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return p, nil
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return payload{}, shapeError("payload", err)
	}
	var err error
	p.accounts, p.accountIDs, err = decodeAccounts(p.Accounts)
	if err != nil {
		return payload{}, err
	}
	return p, nil
}

// decodeAccounts splits payload.accounts into account objects and account
// ids. null elements are skipped.
func decodeAccounts(raw json.RawMessage) ([]*hooklinev1.Account, []string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil, nil
	}
	if raw[0] != '[' {
		return nil, nil, errors.New("payload.accounts is not an array")
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, nil, shapeError("payload.accounts", err)
	}
	var (
		accounts []*hooklinev1.Account
		ids      []string
	)
	for i, item := range items {
		item = bytes.TrimSpace(item)
		switch c := item[0]; {
		case c == '{':
			var acc account
			if err := json.Unmarshal(item, &acc); err != nil {
				return nil, nil, shapeError(fmt.Sprintf("payload.accounts[%d]", i), err)
			}
			accounts = append(accounts, acc.proto())
		case c == '"' || c == '-' || (c >= '0' && c <= '9'):
			var id adapters.FlexString
			if err := id.UnmarshalJSON(item); err != nil {
				return nil, nil, shapeError(fmt.Sprintf("payload.accounts[%d]", i), err)
			}
			ids = append(ids, id.String())
		case bytes.Equal(item, []byte("null")):
		default:
			return nil, nil, fmt.Errorf("payload.accounts[%d] is neither an account object nor an account id", i)
		}
	}
	return accounts, ids, nil
}

// account is a Finicity account object as sent in Connect payloads.
type account struct {
	ID                     adapters.FlexString `json:"id"`
	Number                 adapters.FlexString `json:"number"`
	RealAccountNumberLast4 adapters.FlexString `json:"realAccountNumberLast4"`
	AccountNumberDisplay   adapters.FlexString `json:"accountNumberDisplay"`
	Name                   adapters.FlexString `json:"name"`
	// Balance keeps the exact decimal text of the JSON number.
	Balance            adapters.FlexString `json:"balance"`
	Type               adapters.FlexString `json:"type"`
	Status             adapters.FlexString `json:"status"`
	Currency           adapters.FlexString `json:"currency"`
	InstitutionID      adapters.FlexString `json:"institutionId"`
	InstitutionLoginID adapters.FlexString `json:"institutionLoginId"`
	// AggregationStatusCode is optional: unset stays unset.
	AggregationStatusCode adapters.FlexInt `json:"aggregationStatusCode"`
	// The dates are epoch seconds; 0 means unknown.
	CreatedDate     adapters.FlexInt `json:"createdDate"`
	LastUpdatedDate adapters.FlexInt `json:"lastUpdatedDate"`
	BalanceDate     adapters.FlexInt `json:"balanceDate"`
	Detail          *accountDetail   `json:"detail"`
	DisplayPosition adapters.FlexInt `json:"displayPosition"`
}

// accountDetail is the optional `detail` object of an account.
type accountDetail struct {
	AvailableBalanceAmount adapters.FlexString `json:"availableBalanceAmount"`
	// PeriodInterestRate is a string on the wire ("4.5").
	PeriodInterestRate adapters.FlexString `json:"periodInterestRate"`
}

func (a *account) proto() *hooklinev1.Account {
	out := &hooklinev1.Account{
		Id:                     a.ID.String(),
		Number:                 a.Number.String(),
		RealAccountNumberLast4: a.RealAccountNumberLast4.String(),
		AccountNumberDisplay:   a.AccountNumberDisplay.String(),
		Name:                   a.Name.String(),
		Balance:                a.Balance.String(),
		Type:                   a.Type.String(),
		Status:                 a.Status.String(),
		Currency:               a.Currency.String(),
		InstitutionId:          a.InstitutionID.String(),
		InstitutionLoginId:     a.InstitutionLoginID.String(),
		AggregationStatusCode:  a.AggregationStatusCode.Ptr(),
		CreateTime:             adapters.EpochSeconds(a.CreatedDate),
		LastUpdateTime:         adapters.EpochSeconds(a.LastUpdatedDate),
		BalanceTime:            adapters.EpochSeconds(a.BalanceDate),
		DisplayPosition:        a.DisplayPosition.Value,
	}
	if a.Detail != nil {
		out.AvailableBalance = a.Detail.AvailableBalanceAmount.String()
		out.PeriodInterestRate = a.Detail.PeriodInterestRate.String()
	}
	return out
}

// customField is one entry of reportCustomFields.
type customField struct {
	Label adapters.FlexString `json:"label"`
	Value adapters.FlexString `json:"value"`
	Shown adapters.FlexBool   `json:"shown"`
}

// decodeCustomFields decodes reportCustomFields; absent or null yields none.
func decodeCustomFields(raw json.RawMessage) ([]*hooklinev1.ReportCustomField, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, nil
	}
	var fields []*customField
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, shapeError("reportCustomFields", err)
	}
	var out []*hooklinev1.ReportCustomField
	for _, f := range fields {
		if f == nil {
			continue
		}
		out = append(out, &hooklinev1.ReportCustomField{
			Label: f.Label.String(),
			Value: f.Value.String(),
			Shown: f.Shown.Value,
		})
	}
	return out, nil
}

// shapeError explains why where could not be decoded, naming at most a field
// of the adapter's own schema, never a payload value.
func shapeError(where string, err error) error {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) && typ.Field != "" {
		return fmt.Errorf("%s field %q has an unexpected type", where, typ.Field)
	}
	return fmt.Errorf("%s has an unexpected shape", where)
}
