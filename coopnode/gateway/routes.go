package gateway

// routes is the API's route table: each entry is registered on the mux and
// must appear in openapi.json (a test checks both ways).
func (g *Gateway) routes() []route {
	return []route{
		{"POST", "/auth/challenge", "auth_challenge", rulePublic, g.postChallenge},
		{"POST", "/auth/verify", "auth_verify", rulePublic, g.postVerify},
		{"POST", "/auth/refresh", "auth_refresh", rulePublic, g.postRefresh},

		{"POST", "/membership/{coop}/invites", "invite_create", ruleModerator, g.postInvite},
		{"POST", "/membership/{coop}/applications", "application_submit", ruleToken, g.postApplication},
		{"POST", "/membership/{coop}/applications/{id}/approve", "application_approve", ruleModerator, g.postApprove},
		{"GET", "/membership/{coop}/members", "directory", ruleMember, g.getDirectory},
		{"GET", "/membership/{coop}/members/{did}", "member_get", ruleSelfOrMod, g.getMember},
		{"DELETE", "/membership/{coop}/members/{did}", "member_revoke", ruleModerator, g.deleteMember},
		{"PUT", "/membership/{coop}/members/{did}/roles/{role}", "role_grant", ruleModerator, g.putRole},
		{"DELETE", "/membership/{coop}/members/{did}/roles/{role}", "role_revoke", ruleModerator, g.deleteRole},

		{"POST", "/ledger/{coop}/payment", "payment", ruleMember, g.postPayment},
		{"GET", "/ledger/{coop}/balance/{did}", "balance", ruleSelfOrMod, g.getBalance},
		{"GET", "/ledger/{coop}/history/{did}", "history", ruleSelfOrMod, g.getHistory},
		{"GET", "/payments/{coop}/{id}", "payment_status", ruleMember, g.getPayment},

		{"GET", "/ws/{coop}", "events", ruleMember, g.getEvents},

		{"GET", "/settlement/{coop}/statements", "statements", ruleTreasurer, g.getStatements},
		{"GET", "/settlement/{coop}/statements/{period}", "statement", ruleTreasurer, g.getStatement},

		{"GET", "/devices/{did}", "device_list", ruleSelf, g.getDevices},
		{"POST", "/devices/{did}", "device_add", ruleSelf, g.postDevice},
		{"DELETE", "/devices/{did}/{device}", "device_revoke", ruleSelf, g.deleteDevice},
		{"POST", "/identity/rotate", "key_rotate", ruleToken, g.postRotate},
		{"POST", "/identity/emergency-revoke", "emergency_revoke", ruleToken, g.postEmergencyRevoke},

		{"GET", "/backup/{coop}", "backup", ruleModerator, g.getBackup},

		{"PUT", "/ledger/{coop}/credit-limit/{did}", "credit_limit_set", ruleTreasurerRole, g.putCreditLimit},
		{"POST", "/governance/{coop}/proposals", "proposal_open", ruleMember, g.postProposal},
		{"GET", "/governance/{coop}/proposals", "proposal_list", ruleMember, g.getProposals},
		{"GET", "/governance/{coop}/proposals/{id}", "proposal_get", ruleMember, g.getProposal},
		{"POST", "/governance/{coop}/proposals/{id}/votes", "vote_cast", ruleMember, g.postVote},
		{"POST", "/governance/{coop}/proposals/{id}/close", "proposal_close", ruleMember, g.postClose},
		{"POST", "/governance/{coop}/proposals/{id}/cancel", "proposal_cancel", ruleToken, g.postCancel},
		{"GET", "/governance/{coop}/delegations", "delegation_list", ruleMember, g.getDelegations},
		{"PUT", "/governance/{coop}/delegation", "delegation_set", ruleMember, g.putDelegation},
		{"DELETE", "/governance/{coop}/delegation", "delegation_revoke", ruleMember, g.deleteDelegation},
		{"POST", "/governance/{coop}/appeals", "appeal_file", ruleToken, g.postAppeal},
		{"GET", "/governance/{coop}/dues", "dues", ruleMember, g.getDues},

		// member trust and recovery (trust.go)
		{"POST", "/membership/{coop}/vouches", "vouch_record", ruleMember, g.postVouch},
		{"GET", "/membership/{coop}/trust/{did}", "trust_get", ruleMember, g.getTrust},
		{"POST", "/membership/{coop}/emergency-revoke", "voucher_revoke", ruleMember, g.postVoucherRevoke},
		{"POST", "/membership/{coop}/recoveries", "recovery_sign", ruleToken, g.postRecovery},
		{"GET", "/membership/{coop}/recoveries/{did}", "recovery_list", ruleToken, g.getRecoveries},
	}
}
