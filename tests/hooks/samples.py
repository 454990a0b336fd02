# ruff: noqa: E501 -- the samples are copied as published, long lines and all
"""The providers' own documented sample payloads, copied as published, for the hook
tests. Nothing here is invented except where a comment says so.

Amazon SNS, "Amazon SNS message and JSON formats" (Amazon SNS Developer Guide,
docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html): the example
bodies of an HTTP/HTTPS Notification and SubscriptionConfirmation. Their Signature
values are AWS's placeholders ("EXAMPLE..."); the tests sign these messages with a
key of their own and serve its certificate at the documented SigningCertURL.

Amazon SES, "Amazon SNS notification examples for Amazon SES" (Amazon SES Developer
Guide, docs.aws.amazon.com/ses/latest/dg/notification-examples.html): "Bounce
notification with a DSN", "Bounce notification without a DSN" and "Complaint
notification with a feedback report", carried as the `Message` of an SNS
notification.

Postmark, developer documentation, "Bounce webhook" and "Spam complaint webhook"
(postmarkapp.com/developer/webhooks/bounce-webhook and .../spam-complaint-webhook):
"Example JSON webhook data".
"""

from __future__ import annotations

# -- Amazon SNS ------------------------------------------------------------------------

SNS_NOTIFICATION = {
    "Type": "Notification",
    "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Subject": "My First Message",
    "Message": "Hello world!",
    "Timestamp": "2012-05-02T00:54:06.655Z",
    "SignatureVersion": "1",
    "Signature": "EXAMPLEw6JRNwm1LFQL4ICB0bnXrdB8ClRMTQFGBqwLpGbM78tJ4etTwC5zU7O3tS6tGpey3ejedNdOJ+1fkIp9F2/LmNVKb5aFlYq+9rk9ZiPph5YlLmWsDcyC5T+Sy9/umic5S0UQc2PEtgdpVBahwNOdMW4JPwk0kAJJztnc=",
    "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
    "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-west-2:123456789012:MyTopic:c9135db0-26c4-47ec-8998-413945fb5a96",
}  # fmt: skip

SNS_SUBSCRIPTION_CONFIRMATION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
    "TopicArn": "arn:aws:sns:us-west-2:123456789012:MyTopic",
    "Message": "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
    "SubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
    "Timestamp": "2012-04-26T20:45:04.751Z",
    "SignatureVersion": "1",
    "Signature": "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
    "SigningCertURL": "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
}  # fmt: skip

# "Verifying the signatures of Amazon SNS messages" (the same guide): the example
# string to sign for a Notification, and the message it is made of.
SNS_STRING_TO_SIGN_MESSAGE = {
    "Type": "Notification",
    "Message": "My Test Message",
    "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64",
    "Subject": "My subject",
    "Timestamp": "2019-01-31T04:37:04.321Z",
    "TopicArn": "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P",
}
SNS_STRING_TO_SIGN = """Message
My Test Message
MessageId
4d4dc071-ddbf-465d-bba8-08f81c89da64
Subject
My subject
Timestamp
2019-01-31T04:37:04.321Z
TopicArn
arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P
Type
Notification
"""

# -- Amazon SES ------------------------------------------------------------------------

SES_BOUNCE_WITH_DSN = """{
   "notificationType":"Bounce",
   "bounce":{
      "bounceType":"Permanent",
      "reportingMTA":"dns; email.example.com",
      "bouncedRecipients":[
         {
            "emailAddress":"jane@example.com",
            "status":"5.1.1",
            "action":"failed",
            "diagnosticCode":"smtp; 550 5.1.1 <jane@example.com>... User"
         }
      ],
      "bounceSubType":"General",
      "timestamp":"2016-01-27T14:59:38.237Z",
      "feedbackId":"00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa068a-000000",
      "remoteMtaIp":"127.0.2.0"
   },
   "mail":{
      "timestamp":"2016-01-27T14:59:38.237Z",
      "source":"john@example.com",
      "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
      "sourceIp": "127.0.3.0",
      "sendingAccountId":"123456789012",
      "messageId":"00000138111222aa-33322211-cccc-cccc-cccc-ddddaaaa0680-000000",
      "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"],
      "headersTruncated":false,
      "headers":[
       {
         "name":"From",
         "value":"\\"John Doe\\" <john@example.com>"
       },
       {
         "name":"To",
         "value":"\\"Jane Doe\\" <jane@example.com>, \\"Mary Doe\\" <mary@example.com>, \\"Richard Doe\\" <richard@example.com>"
       },
       {
         "name":"Message-ID",
         "value":"custom-message-ID"
       },
       {
         "name":"Subject",
         "value":"Hello"
       },
       {
         "name":"Content-Type",
         "value":"text/plain; charset=\\"UTF-8\\""
       },
       {
         "name":"Content-Transfer-Encoding",
         "value":"base64"
       },
       {
         "name":"Date",
         "value":"Wed, 27 Jan 2016 14:05:45 +0000"
       }
      ],
      "commonHeaders":{
         "from":[
            "John Doe <john@example.com>"
         ],
         "date":"Wed, 27 Jan 2016 14:05:45 +0000",
         "to":[
            "Jane Doe <jane@example.com>, Mary Doe <mary@example.com>, Richard Doe <richard@example.com>"
         ],
         "messageId":"custom-message-ID",
         "subject":"Hello"
       }
    }
}"""

SES_BOUNCE_WITHOUT_DSN = """{
  "notificationType":"Bounce",
  "bounce":{
     "bounceType":"Permanent",
     "bounceSubType": "General",
     "bouncedRecipients":[
        {
           "emailAddress":"jane@example.com"
        },
        {
           "emailAddress":"richard@example.com"
        }
     ],
     "timestamp":"2016-01-27T14:59:38.237Z",
     "feedbackId":"00000137860315fd-869464a4-8680-4114-98d3-716fe35851f9-000000",
     "remoteMtaIp":"127.0.2.0"
  },
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"00000137860315fd-34208509-5b74-41f3-95c5-22c1edc3c924-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"
     ],
    "headersTruncated":false,
    "headers":[
     {
        "name":"From",
        "value":"\\"John Doe\\" <john@example.com>"
     },
     {
        "name":"To",
        "value":"\\"Jane Doe\\" <jane@example.com>, \\"Mary Doe\\" <mary@example.com>, \\"Richard Doe\\" <richard@example.com>"
     },
     {
        "name":"Message-ID",
        "value":"custom-message-ID"
     },
     {
        "name":"Subject",
        "value":"Hello"
     },
     {
        "name":"Content-Type",
        "value":"text/plain; charset=\\"UTF-8\\""
     },
     {
        "name":"Content-Transfer-Encoding",
        "value":"base64"
     },
     {
        "name":"Date",
        "value":"Wed, 27 Jan 2016 14:05:45 +0000"
      }
     ],
     "commonHeaders":{
       "from":[
          "John Doe <john@example.com>"
       ],
       "date":"Wed, 27 Jan 2016 14:05:45 +0000",
       "to":[
          "Jane Doe <jane@example.com>, Mary Doe <mary@example.com>, Richard Doe <richard@example.com>"
       ],
       "messageId":"custom-message-ID",
       "subject":"Hello"
     }
  }
}"""

SES_COMPLAINT_WITH_FEEDBACK = """{
  "notificationType":"Complaint",
  "complaint":{
     "userAgent":"AnyCompany Feedback Loop (V0.01)",
     "complainedRecipients":[
        {
           "emailAddress":"richard@example.com"
        }
     ],
     "complaintFeedbackType":"abuse",
     "arrivalDate":"2016-01-27T14:59:38.237Z",
     "timestamp":"2016-01-27T14:59:38.237Z",
     "feedbackId":"000001378603177f-18c07c78-fa81-4a58-9dd1-fedc3cb8f49a-000000"
  },
  "mail":{
     "timestamp":"2016-01-27T14:59:38.237Z",
     "messageId":"000001378603177f-7a5433e7-8edb-42ae-af10-f0181f34d6ee-000000",
     "source":"john@example.com",
     "sourceArn": "arn:aws:ses:us-east-1:888888888888:identity/example.com",
     "sourceIp": "127.0.3.0",
     "sendingAccountId":"123456789012",
     "destination":[
        "jane@example.com",
        "mary@example.com",
        "richard@example.com"
     ],
      "headersTruncated":false,
      "headers":[
       {
         "name":"From",
         "value":"\\"John Doe\\" <john@example.com>"
       },
       {
         "name":"To",
         "value":"\\"Jane Doe\\" <jane@example.com>, \\"Mary Doe\\" <mary@example.com>, \\"Richard Doe\\" <richard@example.com>"
       },
       {
         "name":"Message-ID",
         "value":"custom-message-ID"
       },
       {
         "name":"Subject",
         "value":"Hello"
       },
       {
         "name":"Content-Type",
         "value":"text/plain; charset=\\"UTF-8\\""
       },
       {
         "name":"Content-Transfer-Encoding",
         "value":"base64"
       },
       {
         "name":"Date",
         "value":"Wed, 27 Jan 2016 14:05:45 +0000"
       }
     ],
     "commonHeaders":{
       "from":[
          "John Doe <john@example.com>"
       ],
       "date":"Wed, 27 Jan 2016 14:05:45 +0000",
       "to":[
          "Jane Doe <jane@example.com>, Mary Doe <mary@example.com>, Richard Doe <richard@example.com>"
       ],
       "messageId":"custom-message-ID",
       "subject":"Hello"
     }
  }
}"""

# -- Postmark --------------------------------------------------------------------------

POSTMARK_BOUNCE = """{
  "RecordType": "Bounce",
  "MessageStream": "outbound",
  "ID": 4323372036854775807,
  "Type": "HardBounce",
  "TypeCode": 1,
  "Name": "Hard bounce",
  "Tag": "Test",
  "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
  "Metadata" : {
    "a_key" : "a_value",
    "b_key": "b_value"
  },
  "ServerID": 23,
  "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
  "Details": "Test bounce details",
  "Email": "john@example.com",
  "From": "sender@example.com",
  "BouncedAt": "2019-11-05T16:33:54.9070259Z",
  "DumpAvailable": true,
  "Inactive": true,
  "CanActivate": true,
  "Subject": "Test subject",
  "Content": "<Full dump of bounce>"
}"""

POSTMARK_SPAM_COMPLAINT = """{
  "RecordType": "SpamComplaint",
  "MessageStream": "outbound",
  "ID": 42,
  "Type": "SpamComplaint",
  "TypeCode": 512,
  "Name": "Spam complaint",
  "Tag": "Test",
  "MessageID": "00000000-0000-0000-0000-000000000000",
  "Metadata" : {
    "a_key" : "a_value",
    "b_key": "b_value"
  },
  "ServerID": 1234,
  "Description": "",
  "Details": "Test spam complaint details",
  "Email": "john@example.com",
  "From": "sender@example.com",
  "BouncedAt": "2019-11-05T16:33:54.9070259Z",
  "DumpAvailable": true,
  "Inactive": true,
  "CanActivate": false,
  "Subject": "Test subject",
  "Content": "<Abuse report dump>"
}"""
