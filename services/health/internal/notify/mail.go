package notify

import "clawdbot.cloud/pkg/mail"

// Mail is one email (pkg/mail, shared with the web app).
type Mail = mail.Mail

// SMTP sends email through a submission server (pkg/mail).
type SMTP = mail.SMTP
